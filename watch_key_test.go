package cairn_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
)

// removeOthersKeys removes, as another machine, every key file of the
// repository at loc but the one o opens it with, and returns their ids.
func removeOthersKeys(t *testing.T, loc string, o cairn.Options) (removed []string) {
	t.Helper()
	ctx := context.Background()
	newMachine(t)
	b, err := cairn.Open(ctx, loc, o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ks, err := b.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if !k.Current {
			if err := b.RemoveKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			removed = append(removed, k.ID)
		}
	}
	return removed
}

// TestWatchKeyRemoved: a watch opened from the bucket (no copy of the key
// files to recheck) confirms at each snapshot that the key file it was
// opened with is still there, and stops with ErrKeyGone once another
// machine removed it. Before, it went on writing records with it.
func TestWatchKeyRemoved(t *testing.T) {
	ctx := context.Background()
	loc, pw, h := remoteWithSnapshot(t, "watchkey")
	other := pw
	other.Password = []byte("another password")
	repo, err := cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.AddKey(ctx, cairn.NewKey{Password: other.Password}); err != nil {
		t.Fatal(err)
	}
	repo.Close()

	cacheA := newMachine(t) // no copy: Open reads the bucket
	repo, err = cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	snapped := make(chan int64, 16)
	var notes atomic.Int32
	done := make(chan error, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		done <- repo.Watch(wctx, []string{h.src}, cairn.WatchOptions{Debounce: 50 * time.Millisecond,
			OnSnapshot: func(res *cairn.SnapshotResult) { snapped <- res.ID },
			Note:       func(string) { notes.Add(1) }})
	}()
	select {
	case <-snapped: // the first full rescan
	case err := <-done:
		t.Fatalf("watch ended before its first snapshot: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no first snapshot")
	}

	removeOthersKeys(t, loc, other)
	t.Setenv("XDG_CACHE_HOME", cacheA)
	h.change(t, 1)
	select {
	case id := <-snapped:
		t.Fatalf("snapshot %d committed with a key file removed on another machine", id)
	case err := <-done:
		if !errors.Is(err, cairn.ErrKeyGone) {
			t.Fatalf("watch ended with %v; want ErrKeyGone", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the watch went on (%d notes) with a key file removed on another machine", notes.Load())
	}
}

// TestKeyRecheckAfterInterval: a process that read the key files from the
// bucket writes records without listing keys/ again for RecheckInterval,
// as a new command would open from the copy, and lists them before its
// next record once that has passed: a key file removed meanwhile stops
// it (ErrKeyGone). Before, it never looked again.
func TestKeyRecheckAfterInterval(t *testing.T) {
	ctx := context.Background()
	loc, pw, h := remoteWithSnapshot(t, "recheck")
	other := pw
	other.Password = []byte("another password")
	repo, err := cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.AddKey(ctx, cairn.NewKey{Password: other.Password}); err != nil {
		t.Fatal(err)
	}
	repo.Close()

	cacheA := newMachine(t)
	var skew atomic.Int64
	clock := pw
	clock.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	repo, err = cairn.Open(ctx, loc, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	removeOthersKeys(t, loc, other)
	t.Setenv("XDG_CACHE_HOME", cacheA)
	// Within the interval: the bound every command has.
	if _, err := repo.Tag(ctx, h.ids[:1], cairn.TagChange{Add: []string{"within"}}); err != nil {
		t.Fatalf("tag within the recheck interval: %v", err)
	}
	skew.Store(int64(cairn.RecheckInterval + time.Second))
	if _, err := repo.Tag(ctx, h.ids[:1], cairn.TagChange{Add: []string{"past"}}); !errors.Is(err, cairn.ErrKeyGone) {
		t.Fatalf("tag past the recheck interval with a removed key file: %v; want ErrKeyGone", err)
	}
}
