module github.com/cotter-sdk/cotter/bindings/go/redisstore

go 1.22

require (
	github.com/cotter-sdk/cotter/bindings/go v0.0.0
	github.com/redis/go-redis/v9 v9.17.3
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
)

// Developed in the same repository as the package cotter: build against the checkout next to it.
replace github.com/cotter-sdk/cotter/bindings/go => ../
