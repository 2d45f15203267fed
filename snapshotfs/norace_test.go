//go:build !race

package snapshotfs_test

const raceEnabled = false
