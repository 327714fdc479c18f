module github.com/cotter-sdk/cotter/tests/fleet/go

go 1.22

require (
	github.com/cotter-sdk/cotter/bindings/go v0.0.0
	github.com/cotter-sdk/cotter/bindings/go/redisstore v0.0.0
	github.com/redis/go-redis/v9 v9.17.3
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
)

// Built against this checkout.
replace (
	github.com/cotter-sdk/cotter/bindings/go => ../../../bindings/go
	github.com/cotter-sdk/cotter/bindings/go/redisstore => ../../../bindings/go/redisstore
)
