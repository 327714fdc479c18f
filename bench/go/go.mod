module github.com/cotter-sdk/cotter/bench/go

go 1.22

require github.com/cotter-sdk/cotter/bindings/go v0.0.0

// The package of this repository, never a download.
replace github.com/cotter-sdk/cotter/bindings/go => ../../bindings/go
