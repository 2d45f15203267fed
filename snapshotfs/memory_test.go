package snapshotfs_test

import (
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
)

// TestReadsStream: reading a 48 MiB file, whole or at random, allocates a
// small fraction of its size: the view never holds the whole file.
func TestReadsStream(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes and snapshots 48 MiB; allocation figures need no race detector")
	}
	src := sourceDir(t)
	const size = 48 << 20
	write(t, filepath.Join(src, "big"), append(randomBytes(12, size/2), logText(size/2)...), 0o644)
	view := newRepo(t).snap(t, src)

	allocated := func(fn func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	f, err := view.Open("big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seq := allocated(func() {
		if n, err := io.Copy(io.Discard, f); err != nil || n != size {
			t.Fatalf("io.Copy = %d, %v", n, err)
		}
	})
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 64<<10)
	random := allocated(func() {
		for range 500 {
			if _, err := f.(io.ReaderAt).ReadAt(buf, r.Int64N(size-int64(len(buf)))); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Logf("allocated %d KiB reading %d MiB in order, %d KiB for 500 random reads", seq>>10, size>>20, random>>10)
	if seq > size/8 || random > size/8 {
		t.Errorf("allocated %d bytes in order and %d at random reading a %d-byte file; want under an eighth of it", seq, random, size)
	}
}
