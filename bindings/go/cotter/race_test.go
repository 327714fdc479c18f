//go:build race

package cotter_test

// raceEnabled: the race detector's shadow memory makes resident-set measurements meaningless.
const raceEnabled = true
