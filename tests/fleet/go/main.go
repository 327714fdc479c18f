// The fleet test's Go worker (docs: /work/brief FLEET.md contract; driver tests/fleet/fleet.py): one client, one
// shared store over go-redis (standalone or cluster, as COTTER_FLEET_REDIS says) and the seeded sessions
// fleet-0..N-1; COTTER_FLEET_CONCURRENCY goroutines call AccessToken on random sessions until the time is up
// (or SIGTERM), then one JSON line of counts. Build: `go build -o <tmp>/fleet-go .` in this directory, with
// PKG_CONFIG_PATH naming the build tree's cotter.pc (as scripts/test-go.sh sets it).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
	"github.com/cotter-sdk/cotter/bindings/go/redisstore"
	"github.com/redis/go-redis/v9"
)

func env(name string) string { return os.Getenv("COTTER_FLEET_" + name) }

func envInt(name string) int {
	n, err := strconv.Atoi(env(name))
	if err != nil {
		fail("COTTER_FLEET_%s=%q is not an integer", name, env(name))
	}
	return n
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fleet worker (go): "+format+"\n", args...)
	os.Exit(2)
}

// redisClient opens redis://host:port with redis.NewClient, redis-cluster://a,b,c with redis.NewClusterClient.
func redisClient(url string) redis.UniversalClient {
	if seeds, ok := strings.CutPrefix(url, "redis-cluster://"); ok {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(seeds, ",")})
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		fail("COTTER_FLEET_REDIS: %v", err)
	}
	return redis.NewClient(o)
}

// counts are the worker's results; errors by the status's stable name.
type counts struct {
	mu     sync.Mutex
	calls  int
	ok     int
	errors map[string]int
}

func (c *counts) add(at string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if err == nil && at != "" && strings.Count(at, ".") == 2 {
		c.ok++
		return
	}
	name := "NOT_A_JWT"
	var ce *cotter.Error
	if errors.As(err, &ce) {
		name = ce.Name
	} else if err != nil {
		name = "GO_ERROR"
	}
	if c.errors[name] == 0 && err != nil {
		fmt.Fprintf(os.Stderr, "fleet worker (go) %d: first %s: %v\n", os.Getpid(), name, err) // messages hold no token
	}
	c.errors[name]++
}

// report prints the one final line (once, whoever ends first: the timer or SIGTERM).
func (c *counts) report() {
	c.mu.Lock()
	defer c.mu.Unlock()
	line, _ := json.Marshal(map[string]any{"lang": "go", "pid": os.Getpid(), "calls": c.calls, "ok": c.ok, "errors": c.errors})
	fmt.Println(string(line))
}

func main() {
	client, err := cotter.NewClient(cotter.ClientOptions{BaseURL: env("BASE_URL"), APIKeyID: env("API_KEY_ID"),
		APISecretKey: env("API_SECRET_KEY")})
	if err != nil {
		fail("client: %v", err)
	}
	rdb := redisClient(env("REDIS"))
	store, err := cotter.NewSharedStore(redisstore.New(rdb), &cotter.SharedStoreOptions{KeyPrefix: env("PREFIX"),
		LeaseTTL: time.Duration(envInt("LEASE_MS")) * time.Millisecond})
	if err != nil {
		fail("store: %v", err)
	}
	n := envInt("SESSIONS")
	sessions := make([]*cotter.Session, n)
	for i := range sessions {
		// No initial token: the session loads what the store holds.
		sessions[i], err = cotter.NewSession(client, cotter.SessionOptions{SharedStore: store,
			SharedSessionID: fmt.Sprintf("fleet-%d", i), RefreshMargin: time.Duration(envInt("MARGIN")) * time.Second}, nil)
		if err != nil {
			fail("session fleet-%d: %v", i, err)
		}
	}
	_ = store.Close() // the sessions keep it
	seconds, err := strconv.ParseFloat(env("SECONDS"), 64)
	if err != nil {
		fail("COTTER_FLEET_SECONDS=%q", env("SECONDS"))
	}
	pause := time.Duration(envInt("PAUSE_MS")) * time.Millisecond
	lanes := envInt("CONCURRENCY")

	res := &counts{errors: map[string]int{}}
	var once sync.Once
	finish := func() { once.Do(func() { res.report(); os.Exit(0) }) }
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		finish() // calls in flight are not counted
	}()

	fmt.Println("ready")
	end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for l := 0; l < lanes; l++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for !stop.Load() && time.Now().Before(end) {
				at, err := sessions[rng.Intn(n)].AccessToken(context.Background())
				res.add(at, err)
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}(time.Now().UnixNano() + int64(l))
	}
	wg.Wait()
	stop.Store(true)
	finish()
}
