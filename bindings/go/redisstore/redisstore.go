// Package redisstore is the shared-session adapter (cotter.SharedStoreAdapter) over go-redis v9: pass the
// client you already have (*redis.Client, *redis.ClusterClient, a failover client; TLS, auth, Sentinel and
// Cluster come from it) and give the store to your sessions.
//
//	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"redis-1:6379", "redis-2:6379"}})
//	store, err := cotter.NewSharedStore(redisstore.New(rdb), nil)
//	...
//	session, err := cotter.NewSession(client, cotter.SessionOptions{SharedStore: store, SharedSessionID: userID}, nil)
//
// It is a module of its own so that the package cotter does not depend on go-redis. It requires the oldest
// go-redis v9 it is tested with (v9.17.3: Go 1.22 still builds it); your go.mod may select any newer v9.
// A replica that finds the refresh lease held is woken by the holder's pub/sub message (Wait, wait.go).
// See docs/go.md, "Sessions shared by a fleet (Redis)".
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
	"github.com/redis/go-redis/v9"
)

// Adapter runs the store's scripts on a go-redis client, and wakes a replica waiting for the refresh lease on
// the holder's message (Wait, over one more connection of the client's: see wait.go). Safe for concurrent use.
type Adapter struct {
	client redis.UniversalClient
	sub    subscriber
}

var (
	_ cotter.SharedStoreAdapter = (*Adapter)(nil)
	_ cotter.SharedStoreWaiter  = (*Adapter)(nil)
)

// New returns the adapter over client, which stays yours: close it after every session using the store is
// closed (an eval on a closed client fails with cotter.ErrSharedUnavailable). Its Wait makes one more
// connection of the client's (a PubSub) on the first wait, closed again when idle; stores sharing the adapter
// share it.
func New(client redis.UniversalClient) *Adapter { return &Adapter{client: client} }

// Eval runs EVALSHA and, on NOSCRIPT, EVAL (cotter.SharedStoreAdapter). Each script's keys share one hash tag,
// so a cluster client sends it to the one node that owns their slot. It is bounded by the client's own
// timeouts (ReadTimeout, WriteTimeout, DialTimeout, retries): the store passes no context.
func (a *Adapter) Eval(script, sha1 string, keys, args []string) ([][]byte, error) {
	ctx := context.Background()
	argv := make([]any, len(args))
	for i, v := range args {
		argv[i] = v
	}
	reply, err := a.client.EvalSha(ctx, sha1, keys, argv...).Result()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		reply, err = a.client.Eval(ctx, script, keys, argv...).Result()
	}
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, errors.New("redis answered a script with nil")
		}
		return nil, err
	}
	return flatten(reply)
}

// flatten turns a script's reply (an array of strings and integers) into byte strings, integers as decimal text.
func flatten(reply any) ([][]byte, error) {
	arr, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("redis answered a script with a %T, not an array", reply)
	}
	out := make([][]byte, len(arr))
	for i, item := range arr {
		switch v := item.(type) {
		case string:
			out[i] = []byte(v)
		case []byte:
			out[i] = v
		case int64:
			out[i] = strconv.AppendInt(nil, v, 10)
		default:
			return nil, fmt.Errorf("redis answered a script with an item of type %T", item)
		}
	}
	return out, nil
}
