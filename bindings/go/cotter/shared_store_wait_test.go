package cotter_test

// The Go layer of an adapter's Wait (SharedStoreWaiter) against a real redis-server: a message wakes the
// waiter (COTTER_OK), a bound that passes is a timeout (COTTER_ETIMEOUT), a failing or panicking Wait is a
// failed wait (the session polls); whatever they say, the session reads again and ends with one refresh.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// respWaiter adds to respAdapter a Wait over a connection of its own per wait: SUBSCRIBE, then the first
// message, or ctx's deadline.
type respWaiter struct{ respAdapter }

func (a respWaiter) Wait(ctx context.Context, channel string) error {
	conn, err := net.Dial("unix", a.sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	if _, err := fmt.Fprintf(conn, "*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n", len(channel), channel); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	for i := 0; i < 2; i++ { // the subscribe confirmation, then a message
		if err := skipArray(r); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return context.DeadlineExceeded
			}
			return err
		}
	}
	return nil
}

// skipArray reads one RESP array of bulk strings and integers.
func skipArray(r *bufio.Reader) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	var n int
	if _, err := fmt.Sscanf(line, "*%d", &n); err != nil {
		return fmt.Errorf("unexpected reply %q", line)
	}
	for i := 0; i < n; i++ {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		var size int
		if _, err := fmt.Sscanf(line, "$%d", &size); err == nil {
			if _, err := io.CopyN(io.Discard, r, int64(size)+2); err != nil {
				return err
			}
		}
	}
	return nil
}

// panickingWaiter's every Wait panics: the layer makes it a failed wait.
type panickingWaiter struct{ respAdapter }

func (panickingWaiter) Wait(context.Context, string) error { panic("a broken adapter") }

type wakeLines struct{ woken, timedOut, failed atomic.Int64 }

func (w *wakeLines) log(_ cotter.LogLevel, message string) {
	switch {
	case strings.Contains(message, "woken by the store's message"):
		w.woken.Add(1)
	case strings.Contains(message, "no message within"):
		w.timedOut.Add(1)
	case strings.Contains(message, "wait for the store's message failed"):
		w.failed.Add(1)
	}
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for giveUp := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) { // a hang guard only
		if time.Now().After(giveUp) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

// A lease held by nobody alive (set by hand): the session waits again and again. With respWaiter its waits
// time out, then one is woken by a message published by hand; with panickingWaiter each wait fails and the
// session polls. Once the lease is gone, one refresh.
func TestSharedStoreWaiter(t *testing.T) {
	e := startEmulator(t)
	sock, _ := startRedis(t)
	var clock sharedClock
	var evals atomic.Int64
	for name, adapter := range map[string]cotter.SharedStoreAdapter{
		"message":  respWaiter{respAdapter{sock, &evals}},
		"panicked": panickingWaiter{respAdapter{sock, &evals}},
	} {
		t.Run(name, func(t *testing.T) {
			var lines wakeLines
			o := e.clientOptions()
			o.Log = lines.log
			c, err := cotter.NewClient(o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			st, err := cotter.NewSharedStore(adapter, &cotter.SharedStoreOptions{Wait: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			id := "waiter-" + name
			s := sharedSession(t, c, st, id, &clock, e.loginToken(t, id+"@example.com"))
			defer s.Close()
			clock.advance(e, 7200)
			lease := "cotter:{" + id + "}:lease"
			if _, err := resp(sock, "SET", lease, "a-dead-replica", "PX", "600000"); err != nil {
				t.Fatal(err)
			}
			before := refreshGrants(e)
			done := make(chan error, 1)
			go func() { _, err := s.AccessToken(context.Background()); done <- err }()
			if name == "message" {
				until(t, "waits time out", func() bool { return lines.timedOut.Load() >= 2 })
				until(t, "a message wakes the waiter", func() bool {
					_, _ = resp(sock, "PUBLISH", "cotter:{"+id+"}:changed", "0")
					return lines.woken.Load() >= 1
				})
			} else {
				until(t, "waits fail", func() bool { return lines.failed.Load() >= 2 })
			}
			if _, err := resp(sock, "DEL", lease); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("once the lease was gone: %v", err)
			}
			if got := refreshGrants(e) - before; got != 1 {
				t.Fatalf("%d refresh grants, want 1", got)
			}
			if name == "message" && lines.failed.Load() != 0 {
				t.Fatalf("%d failed waits", lines.failed.Load())
			}
			if name != "message" && lines.woken.Load()+lines.timedOut.Load() != 0 {
				t.Fatalf("a panicking Wait completed as woken (%d) or timed out (%d)", lines.woken.Load(), lines.timedOut.Load())
			}
			until(t, "no wait left in flight", func() bool { return cotter.StoreWaitsInFlight() == 0 })
		})
	}
}
