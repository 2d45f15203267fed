//go:build race

package snapshotfs_test

// raceEnabled: the race detector makes sync.Pool drop what it holds, so
// allocation figures mean nothing.
const raceEnabled = true
