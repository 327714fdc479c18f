module github.com/cotter-sdk/cotter/bindings/go/redisstore

go 1.26.0

require (
	github.com/cotter-sdk/cotter/bindings/go v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

// Developed in the same repository as the package cotter: build against the checkout next to it.
replace github.com/cotter-sdk/cotter/bindings/go => ../
