package snapshot

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore/faultstore"
)

// TestSealDoesNotStallEncoders: with one encoder and a store whose
// commits are slow (an S3 PUT), the encoder hands a full pack off and
// fills the next one while the first is still being committed: a second
// commit starts before the first has returned. Sealing in the encoder
// itself would start it only after.
func TestSealDoesNotStallEncoders(t *testing.T) {
	base := t.TempDir()
	r := newRepo(t, filepath.Join(base, "repo"))
	slow := faultstore.New(r.store, 1)
	const delay = 2 * time.Second
	slow.Set(faultstore.Commit, faultstore.Fault{Delay: delay})
	r.deps.Store = slow
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3 {
		b := make([]byte, 17<<20)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(src, "big"+string(rune('a'+i))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), r.deps, src, Options{Workers: 1})
		done <- err
	}()
	var first time.Time
	for {
		select {
		case err := <-done:
			t.Fatalf("snapshot ended (%v) before two commits overlapped", err)
		case <-time.After(10 * time.Millisecond):
		}
		n := slow.Calls(faultstore.Commit)
		if n >= 1 && first.IsZero() {
			first = time.Now()
		}
		if n >= 2 {
			break
		}
		if !first.IsZero() && time.Since(first) > delay-500*time.Millisecond {
			t.Fatalf("the second pack's commit did not start while the first took %v: the encoder waited for it", delay)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
