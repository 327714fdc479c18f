package redisstore_test

import (
	"context"
	"log"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
	"github.com/cotter-sdk/cotter/bindings/go/redisstore"
	"github.com/redis/go-redis/v9"
)

// A session shared by every replica through a Redis Cluster (compiled, not run: it needs your servers).
func ExampleNew() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"}})
	defer rdb.Close()
	store, err := cotter.NewSharedStore(redisstore.New(rdb), nil) // prefix "cotter", lease 10 s
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: "<key id>", APISecretKey: "<secret>"})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	session, err := cotter.NewSession(client, cotter.SessionOptions{SharedStore: store, SharedSessionID: "user-42"}, nil)
	if err != nil {
		log.Fatal(err) // cotter.ErrSharedUnavailable: Redis could not be read
	}
	defer session.Close()
	accessToken, err := session.AccessToken(context.Background())
	_, _ = accessToken, err
}
