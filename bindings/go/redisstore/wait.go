package redisstore

// Wait (cotter.SharedStoreWaiter): a replica that found the refresh lease held is woken by the holder's
// `…:changed` message. One subscriber connection per adapter (go-redis PubSub), made on the first wait; a
// channel is subscribed while it has waiters and for `linger` after its last (a session contended again soon
// finds it subscribed and never races its SUBSCRIBE against the holder's message); a message completes every
// waiter of its channel; a lost connection fails every waiter, and the next wait connects again. When no
// channel is left, the connection is closed: an idle store holds none.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// defaultLinger: how long a channel stays subscribed after its last waiter (as the library's hiredis adapter).
const defaultLinger = 30 * time.Second

// subscriber is the adapter's pub/sub side; mu guards every field but those of a conn's own goroutines.
type subscriber struct {
	mu        sync.Mutex
	linger    time.Duration
	cur       *subConn                // nil until a wait needs it, and after it was lost or went idle
	waiting   map[string][]chan error // the pending waiters of each channel
	idleUntil map[string]time.Time    // channels without waiters, subscribed until then
	woken     int64                   // waits completed by a message (tests read it)
}

// subConn is one subscriber connection and its two goroutines: receive (reads messages) and sync (sends
// SUBSCRIBE/UNSUBSCRIBE for the channels whose waiters came or went, so that no wait blocks on the network).
type subConn struct {
	ps      *redis.PubSub
	changed chan struct{} // capacity 1: the set of wanted channels changed
	gone    chan struct{} // closed when the connection is dropped
}

// Wait waits for a message on channel until ctx is done (cotter.SharedStoreWaiter): nil for a message that
// arrived after the call started, ctx.Err() when ctx ended first, another error when the subscriber connection
// failed.
func (a *Adapter) Wait(ctx context.Context, channel string) error {
	s := &a.sub
	done := make(chan error, 1) // whoever takes it out of s.waiting sends exactly once
	s.mu.Lock()
	if s.waiting == nil {
		s.waiting, s.idleUntil = map[string][]chan error{}, map[string]time.Time{}
	}
	if s.cur == nil {
		s.cur = &subConn{ps: a.client.Subscribe(context.Background()), changed: make(chan struct{}, 1), gone: make(chan struct{})}
		go s.receive(s.cur)
		go s.sync(s.cur)
	}
	s.waiting[channel] = append(s.waiting[channel], done)
	s.cur.poke()
	s.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	removed := s.removeLocked(channel, done)
	s.mu.Unlock()
	if !removed { // completed meanwhile: its result is on the way
		return <-done
	}
	return ctx.Err()
}

func (c *subConn) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// removeLocked takes one waiter out; its channel starts lingering when it was the last.
func (s *subscriber) removeLocked(channel string, done chan error) bool {
	ws := s.waiting[channel]
	for i, w := range ws {
		if w == done {
			ws = append(ws[:i:i], ws[i+1:]...)
			if len(ws) == 0 {
				delete(s.waiting, channel)
				s.idleUntil[channel] = time.Now().Add(s.lingerTime())
				if s.cur != nil {
					s.cur.poke()
				}
			} else {
				s.waiting[channel] = ws
			}
			return true
		}
	}
	return false
}

func (s *subscriber) lingerTime() time.Duration {
	if s.linger > 0 {
		return s.linger
	}
	return defaultLinger
}

// receive reads the connection; a message completes every waiter of its channel.
func (s *subscriber) receive(c *subConn) {
	for {
		msg, err := c.ps.Receive(context.Background())
		if err != nil {
			s.drop(c, fmt.Errorf("the Redis subscriber connection failed: %w", err))
			return
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // subscribe/unsubscribe confirmations, pongs
		}
		s.mu.Lock()
		if s.cur != c {
			s.mu.Unlock()
			return
		}
		ws := s.waiting[m.Channel]
		if len(ws) > 0 {
			delete(s.waiting, m.Channel)
			s.idleUntil[m.Channel] = time.Now().Add(s.lingerTime())
			s.woken += int64(len(ws))
			c.poke()
		}
		s.mu.Unlock()
		for _, w := range ws {
			w <- nil
		}
	}
}

// sync keeps the connection's subscriptions equal to the channels with waiters or lingering, and drops the
// connection when none is left.
func (s *subscriber) sync(c *subConn) {
	subscribed := map[string]bool{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var add, drop []string
		s.mu.Lock()
		if s.cur != c {
			s.mu.Unlock()
			return
		}
		now := time.Now()
		next := time.Duration(0)
		want := map[string]bool{}
		for ch := range s.waiting {
			want[ch] = true
		}
		for ch, until := range s.idleUntil {
			if _, waited := s.waiting[ch]; waited {
				delete(s.idleUntil, ch)
			} else if left := until.Sub(now); left <= 0 {
				delete(s.idleUntil, ch)
			} else {
				want[ch] = true
				if next == 0 || left < next {
					next = left
				}
			}
		}
		if len(want) == 0 {
			s.cur = nil // idle: the next wait connects again
			s.mu.Unlock()
			close(c.gone)
			_ = c.ps.Close()
			return
		}
		s.mu.Unlock()
		for ch := range want {
			if !subscribed[ch] {
				add = append(add, ch)
			}
		}
		for ch := range subscribed {
			if !want[ch] {
				drop = append(drop, ch)
			}
		}
		var err error
		if len(add) > 0 {
			err = c.ps.Subscribe(context.Background(), add...)
		}
		if err == nil && len(drop) > 0 {
			err = c.ps.Unsubscribe(context.Background(), drop...)
		}
		if err != nil {
			s.drop(c, fmt.Errorf("the Redis subscriber connection failed: %w", err))
			return
		}
		for _, ch := range add {
			subscribed[ch] = true
		}
		for _, ch := range drop {
			delete(subscribed, ch)
		}
		if next > 0 {
			timer.Reset(next)
		}
		select {
		case <-c.changed:
		case <-timer.C:
		case <-c.gone:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// drop ends connection c after a failure: every waiter fails now (the library reads again, then polls); the
// next wait connects again.
func (s *subscriber) drop(c *subConn, err error) {
	s.mu.Lock()
	if s.cur != c {
		s.mu.Unlock()
		return
	}
	s.cur = nil
	all := s.waiting
	s.waiting, s.idleUntil = map[string][]chan error{}, map[string]time.Time{}
	s.mu.Unlock()
	close(c.gone)
	_ = c.ps.Close()
	for _, ws := range all {
		for _, w := range ws {
			w <- err
		}
	}
}
