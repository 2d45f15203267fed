package snapshotfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/faultstore"
	"github.com/cairn-dev/cairn/blobstore/memstore"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// tree is what a snapshot must hand back: every regular file's bytes.
type tree map[string][]byte

func readTree(t *testing.T, root string) tree {
	t.Helper()
	out := tree{}
	for _, rel := range sourcePaths(t, root) {
		abs := filepath.Join(root, filepath.FromSlash(rel))
		fi, err := os.Lstat(abs)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().IsRegular() {
			if out[rel], err = os.ReadFile(abs); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// checkTree reads every file of want through a view of snapshot id, and
// with full runs fstest.TestFS on it too.
func checkTree(t *testing.T, r *repo, store blobstore.Store, id int64, want tree, full bool) {
	t.Helper()
	view, err := snapshotfs.New(context.Background(), r.db, store, nil, id)
	if err != nil {
		t.Fatalf("open snapshot %d: %v", id, err)
	}
	files := 0
	err = fs.WalkDir(view, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		got, err := view.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want[p]) {
			return fmt.Errorf("%s: bytes differ from the source's when snapshot %d was taken", p, id)
		}
		return nil
	})
	if err != nil {
		t.Errorf("snapshot %d: %v", id, err)
	}
	if files != len(want) {
		t.Errorf("snapshot %d has %d files; the source had %d", id, files, len(want))
	}
	if !full {
		return
	}
	var names []string
	for p := range want {
		names = append(names, p)
	}
	if err := fstest.TestFS(view, names...); err != nil {
		t.Errorf("snapshot %d: %v", id, err)
	}
}

// mutate changes the source a little in round i.
func mutate(t *testing.T, src string, i int) {
	write(t, filepath.Join(src, fmt.Sprintf("round %d.txt", i)), logText(3000+i*500), 0o644)
	write(t, filepath.Join(src, "big/random.bin"), randomBytes(uint64(100+i), 700<<10), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(src, "big/random.bin"), old, old)
}

// TestSnapshotThroughFaults takes snapshots through a store that fails
// writes, commits (some after committing), reads and stats at random.
// Each snapshot either fails, leaving the catalog as it was, or commits
// one that reads back byte for byte once the faults stop.
func TestSnapshotThroughFaults(t *testing.T) {
	seeds := 6
	if testing.Short() || raceEnabled {
		seeds = 2
	}
	var failed, committed, injected int
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			src := sourceDir(t)
			write(t, filepath.Join(src, "config.yaml"), []byte("a: 1\n"), 0o600)
			write(t, filepath.Join(src, "notes/log.txt"), logText(600<<10), 0o644)
			mem := memstore.New()
			store := faultstore.New(mem, seed)
			r := newRepoWith(t, t.TempDir(), store)
			store.Set(faultstore.Commit, faultstore.Fault{Probability: 0.3, Lost: seed%2 == 0})
			store.Set(faultstore.Write, faultstore.Fault{Probability: 0.1, Lost: seed%3 == 0})
			store.Set(faultstore.ReadAt, faultstore.Fault{Probability: 0.05})
			store.Set(faultstore.Stat, faultstore.Fault{Probability: 0.2})
			store.Set(faultstore.Create, faultstore.Fault{Probability: 0.1})

			states := map[int64]tree{}
			for i := range 4 {
				mutate(t, src, i)
				before, err := r.db.Snapshots(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				res, err := r.run(src)
				if err != nil {
					failed++
					after, _ := r.db.Snapshots(context.Background(), 0)
					if len(after) != len(before) {
						t.Errorf("round %d failed (%v) but the catalog has %d snapshots, %d before", i, err, len(after), len(before))
					}
					continue
				}
				committed++
				states[res.ID] = readTree(t, src)
			}
			for op := range faultstore.Op(7) {
				injected += store.Injected(op)
			}
			// The faults stop: a snapshot goes through, and every
			// committed one reads back as its source was.
			store.Clear()
			res, err := r.run(src)
			if err != nil {
				t.Fatalf("snapshot without faults: %v", err)
			}
			states[res.ID] = readTree(t, src)
			for id, want := range states {
				checkTree(t, r, store, id, want, id == res.ID)
			}
		})
	}
	t.Logf("%d snapshots failed, %d committed, %d faults injected", failed, committed, injected)
	if failed == 0 || committed == 0 {
		t.Errorf("%d snapshots failed and %d committed; the fault rates should give some of each", failed, committed)
	}
}

// TestLostCommitThenRetry: the first pack's commit succeeds but its
// response is lost. The snapshot fails; the next one succeeds over the
// orphaned pack and reads back.
func TestLostCommitThenRetry(t *testing.T) {
	src := sourceDir(t)
	write(t, filepath.Join(src, "data.bin"), randomBytes(9, 1<<20), 0o644)
	mem := memstore.New()
	store := faultstore.New(mem, 1)
	r := newRepoWith(t, t.TempDir(), store)
	store.Set(faultstore.Commit, faultstore.Fault{Nth: 1, Lost: true})
	if _, err := r.run(src); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("snapshot = %v; want the injected fault", err)
	}
	if packs, _ := mem.Len(); packs != 1 {
		t.Fatalf("%d packs after the lost commit; want the 1 it made", packs)
	}
	res, err := r.run(src)
	if err != nil {
		t.Fatalf("snapshot after the lost commit: %v", err)
	}
	checkTree(t, r, store, res.ID, readTree(t, src), true)
}

// TestReadFaults reads a committed snapshot through a store that fails
// and damages reads: each read returns the right bytes or an error.
func TestReadFaults(t *testing.T) {
	src := sourceDir(t)
	write(t, filepath.Join(src, "random.bin"), randomBytes(10, 3<<20), 0o644)
	write(t, filepath.Join(src, "log.txt"), logText(2<<20), 0o644)
	for i := range 20 {
		write(t, filepath.Join(src, "small", fmt.Sprint(i)), logText(100+i*300), 0o644)
	}
	want := readTree(t, src)
	store := faultstore.New(memstore.New(), 5)
	r := newRepoWith(t, t.TempDir(), store)
	res, err := r.run(src)
	if err != nil {
		t.Fatal(err)
	}
	store.Set(faultstore.ReadAt, faultstore.Fault{Probability: 0.15})
	damaging := faultstore.New(store, 6)
	damaging.Set(faultstore.ReadAt, faultstore.Fault{Probability: 0.15, Damage: true})
	view, err := snapshotfs.New(context.Background(), r.db, damaging, nil, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	var good, injected, corrupt int
	for range 5 {
		for p, data := range want {
			got, err := view.ReadFile(p)
			switch {
			case err == nil && bytes.Equal(got, data):
				good++
			case err == nil:
				t.Fatalf("%s: wrong bytes without an error", p)
			case errors.Is(err, faultstore.ErrInjected):
				injected++
			case errors.Is(err, blobstore.ErrCorrupt):
				corrupt++
			default:
				t.Fatalf("%s: %v", p, err)
			}
		}
	}
	t.Logf("%d good reads, %d failed, %d damaged and caught", good, injected, corrupt)
	if good == 0 || injected == 0 || corrupt == 0 {
		t.Errorf("want some reads of each kind: %d good, %d failed, %d damaged", good, injected, corrupt)
	}
}
