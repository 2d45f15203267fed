package gc_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/restore"
)

// tree reads every regular file under root: relative path -> bytes.
func tree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// restoresAs restores snapshot id into a fresh directory and compares it
// with want, byte for byte.
func (f *fixture) restoresAs(id int64, want map[string][]byte) {
	f.t.Helper()
	req, _, err := f.repo.Resolve(f.ctx, f.src, id, false)
	if err != nil {
		f.t.Fatal(err)
	}
	dir := f.t.TempDir()
	if _, err := f.repo.Restore(f.ctx, []restore.Request{req}, restore.Options{To: dir}); err != nil {
		f.t.Fatalf("restore snapshot %d: %v", id, err)
	}
	got := tree(f.t, dir)
	if len(got) != len(want) {
		f.t.Fatalf("snapshot %d restored %d files, want %d", id, len(got), len(want))
	}
	for rel, data := range want {
		if !bytes.Equal(got[rel], data) {
			f.t.Fatalf("snapshot %d: %s restored as %d bytes, want %d", id, rel, len(got[rel]), len(data))
		}
	}
}

// packStats counts the packs in the repository's store and their bytes.
func (f *fixture) packStats() (n int, bytes int64) {
	f.t.Helper()
	err := f.store.List(f.ctx, func(name string, size int64) error {
		n++
		bytes += size
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return n, bytes
}

// TestGCMergesSmallPacks: every small snapshot seals a pack of its own
// (5,000 of them left 5,511 pack files). gc merges them into packs of the
// target size, so at most one pack per target of live data plus one is
// left; every snapshot still restores byte for byte, and a second gc has
// nothing to merge.
func TestGCMergesSmallPacks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target int64
	}{
		{"default target", 0},          // everything fits in one 16 MiB pack
		{"small target", 64 << 10 * 3}, // several merged packs
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			states := map[int64]map[string][]byte{}
			var forget []int64
			const snaps = 60
			for i := range snaps {
				os.MkdirAll(filepath.Join(f.src, fmt.Sprintf("d%d", i%7)), 0o755)
				f.write(fmt.Sprintf("d%d/f%03d.bin", i%7, i), random(6<<10)) // incompressible
				if i%3 == 0 {
					f.write("shared.bin", random(3<<10)) // dies when its snapshots are forgotten
				}
				scratch := filepath.Join(f.src, "scratch.bin")
				os.Remove(scratch)
				if i%5 == 1 {
					f.write("scratch.bin", random(5<<10)) // only this snapshot, forgotten below, sees it
				}
				id := f.snap()
				states[id] = tree(t, f.src)
				if i%5 == 1 {
					forget = append(forget, id)
				}
			}
			before, _ := f.packStats()
			if before < snaps {
				t.Fatalf("fixture: %d packs after %d snapshots, want one each", before, snaps)
			}
			if _, err := f.repo.Forget(f.ctx, cairn.ForgetOptions{IDs: forget}); err != nil {
				t.Fatal(err)
			}
			for _, id := range forget {
				delete(states, id)
			}

			rep, err := f.repo.GC(f.ctx, gc.Options{PackTarget: tc.target})
			if err != nil {
				t.Fatal(err)
			}
			target := orDefault(tc.target, gc.DefaultPackTarget)
			n, size := f.packStats()
			if bound := int(size/target) + 1; n > bound {
				t.Fatalf("%d packs (%d bytes) after gc, want at most %d (one per %d bytes plus one); report %+v",
					n, size, bound, target, rep)
			}
			if rep.MergedPacks == 0 || rep.WrittenPacks != n {
				t.Fatalf("report %+v: want merged packs, and every pack left (%d) one gc wrote", rep, n)
			}
			t.Logf("%d packs before, %d after (%d bytes); %+v", before, n, size, rep)
			f.checkOK()
			for id, want := range states {
				f.restoresAs(id, want)
			}
			again, err := f.repo.GC(f.ctx, gc.Options{PackTarget: tc.target})
			if err != nil {
				t.Fatal(err)
			}
			if again.MergedPacks+again.RepackedPacks+again.DeletedPacks+again.OrphanPacks != 0 {
				t.Fatalf("second gc still found work: %+v", again)
			}
		})
	}
}

func orDefault(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}
