//go:build !race

package cotter_test

const raceEnabled = false
