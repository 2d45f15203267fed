package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// heapFloor is the heap size below which the garbage collector has no
// reason to run early: small snapshots never reach it.
const heapFloor = 32 << 20

// limitMemory keeps the heap near what cairn actually holds: a soft limit
// of heapFloor, raised after each collection to 1.5x the live heap, so a
// large tree gets the room it needs and the collector never thrashes
// against a limit below the live heap. Go's default lets the heap grow to
// twice the live data. Measured on a first snapshot of 21,000 files and
// two databases (342 MiB), alternating three runs each: peak RSS 58 MB
// instead of 81, wall time 4.83 s instead of 4.59. A floor of 32 MiB
// instead of 40 later took the same snapshot from 52 to 49 MB for 3% more
// CPU. GOMEMLIMIT or GOGC set by the user win.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") != "" || os.Getenv("GOGC") != "" {
		return
	}
	debug.SetMemoryLimit(heapFloor)
	runtime.SetFinalizer(newSentinel(), adjustLimit)
}

type sentinel struct{ _ [16]byte }

func newSentinel() *sentinel { return &sentinel{} }

var liveHeap = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// adjustLimit runs once per collection (the finalizer re-arms itself).
func adjustLimit(s *sentinel) {
	metrics.Read(liveHeap)
	if liveHeap[0].Value.Kind() == metrics.KindUint64 {
		debug.SetMemoryLimit(max(heapFloor, int64(liveHeap[0].Value.Uint64())*3/2))
	}
	runtime.SetFinalizer(newSentinel(), adjustLimit)
}
