module github.com/cotter-sdk/cotter/bindings/go

go 1.22
