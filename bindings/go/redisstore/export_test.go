package redisstore

import "time"

// Test hooks: the subscriber's state, read under its lock.

// SetLinger sets how long a channel stays subscribed after its last waiter (before any wait).
func SetLinger(a *Adapter, d time.Duration) { a.sub.mu.Lock(); a.sub.linger = d; a.sub.mu.Unlock() }

// WokenByMessage is the number of waits a message completed.
func WokenByMessage(a *Adapter) int64 { a.sub.mu.Lock(); defer a.sub.mu.Unlock(); return a.sub.woken }

// Waiters is the number of pending waits on channel.
func Waiters(a *Adapter, channel string) int {
	a.sub.mu.Lock()
	defer a.sub.mu.Unlock()
	return len(a.sub.waiting[channel])
}

// Subscribed says whether the adapter holds a subscriber connection.
func Subscribed(a *Adapter) bool { a.sub.mu.Lock(); defer a.sub.mu.Unlock(); return a.sub.cur != nil }
