package cairn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/catalog"
)

// newFormat1 makes a format-1 repository as cairn before format 2 did (a
// catalog.db at the top, plain packs) with two snapshots of src: one of
// many small files (blobs shared by several chunks) and a large one.
func newFormat1(t *testing.T) (repo, src string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	repo, src = filepath.Join(dir, "repo"), filepath.Join(dir, "src")
	os.MkdirAll(repo, 0o700)
	db, err := catalog.Open(ctx, filepath.Join(repo, catalogName), true)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	os.MkdirAll(filepath.Join(src, "notes"), 0o755)
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 40 {
		os.WriteFile(filepath.Join(src, "notes", fmt.Sprintf("n%02d.json", i)), fmt.Appendf(nil, `{"note": %d, "text": "the unique phrase xyzzy-%d"}`, i, i), 0o644)
	}
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(rng.IntN(7)) // compressible, not trivially
	}
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	backdate(t, src)
	r, err := Open(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.keys != nil {
		t.Fatal("the test's format-1 repository opened as format 2")
	}
	if _, err := r.Snapshot(ctx, src, SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "notes", "n00.json"), []byte(`{"note": 0, "text": "changed"}`), 0o644)
	backdate(t, src)
	if _, err := r.Snapshot(ctx, src, SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	return repo, src
}

// backdate gives every file under dir an mtime long past, so that a
// snapshot trusts its fingerprint (a file modified within 2 s of a
// snapshot is read again).
func backdate(t *testing.T, dir string) {
	t.Helper()
	past := time.Now().Add(-time.Hour)
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Chtimes(path, past, past)
		}
		return err
	})
}

// contents reads every file of every snapshot through the public API.
func contents(t *testing.T, r *Repo, src string) map[string]string {
	t.Helper()
	ctx := context.Background()
	snaps, err := r.Snapshots(ctx, SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range snaps {
		for _, name := range []string{"big.bin", "notes/n00.json", "notes/n07.json", "notes/n39.json"} {
			req, _, err := r.Resolve(ctx, filepath.Join(src, name), s.ID, false)
			if err != nil {
				t.Fatalf("snapshot %d %s: %v", s.ID, name, err)
			}
			var b bytes.Buffer
			if err := r.Cat(ctx, req, &b); err != nil {
				t.Fatalf("cat snapshot %d %s: %v", s.ID, name, err)
			}
			out[fmt.Sprintf("%d:%s", s.ID, name)] = b.String()
		}
	}
	if len(out) != 4*len(snaps) {
		t.Fatalf("read %d files of %d snapshots", len(out), len(snaps))
	}
	return out
}

func sameContents(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %d bytes, want %d", k, len(got[k]), len(w))
		}
	}
}

func packFiles(t *testing.T, repo string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repo, "packs", "*", "*.pack"))
	return files
}

func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	repo, src := newFormat1(t)
	r, _ := Open(ctx, repo, Options{})
	want := contents(t, r, src)
	r.Close()
	oldPacks := packFiles(t, repo)

	rep, err := Upgrade(ctx, repo, Options{Password: []byte("upgrade pw")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Done || rep.Packs != len(oldPacks) || rep.Chunks == 0 || rep.OldPacksRemoved != len(oldPacks) || !rep.Password {
		t.Fatalf("report %+v (%d old packs)", rep, len(oldPacks))
	}
	for _, name := range []string{catalogName, "tmp", "lock", "local/key"} {
		if _, err := os.Stat(filepath.Join(repo, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after the upgrade: %v", name, err)
		}
	}
	for _, p := range oldPacks {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("old pack %s is left", p)
		}
	}
	// Nothing in the new packs is plaintext.
	for _, p := range packFiles(t, repo) {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("xyzzy")) {
			t.Errorf("pack %s holds plaintext", p)
		}
	}
	if _, err := Open(ctx, repo, Options{}); !errors.Is(err, ErrPasswordRequired) {
		t.Fatalf("open the upgraded repository with no password: %v", err)
	}
	r, err = Open(ctx, repo, Options{Password: []byte("upgrade pw")})
	if err != nil {
		t.Fatal(err)
	}
	if r.keys == nil {
		t.Fatal("the upgraded repository opened as format 1")
	}
	sameContents(t, contents(t, r, src), want)
	chk, err := r.Check(ctx, true)
	if err != nil || len(chk.Problems) > 0 || len(chk.Unreferenced) > 0 {
		t.Fatalf("check --read-data after the upgrade: %+v, %v", chk, err)
	}
	// Dedup with the existing data: unchanged files store nothing.
	res, err := r.Snapshot(ctx, src, SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.BytesAdded != 0 {
		t.Errorf("a snapshot of the unchanged source after the upgrade added %d bytes", res.BytesAdded)
	}
	r.Close()

	// The catalog is rebuilt from the upgrade's checkpoint and the log.
	os.Remove(filepath.Join(repo, "local", catalogName))
	r, err = Open(ctx, repo, Options{Password: []byte("upgrade pw")})
	if err != nil {
		t.Fatal(err)
	}
	sameContents(t, contents(t, r, src), want)
	snaps, _ := r.Snapshots(ctx, SnapshotFilter{})
	if len(snaps) != 3 {
		t.Errorf("after a rebuild: %d snapshots, want 3", len(snaps))
	}
	r.Close()

	// Upgrading again does nothing.
	if rep, err := Upgrade(ctx, repo, Options{Password: []byte("upgrade pw")}); err != nil || !rep.Done {
		t.Fatalf("a second upgrade: %+v, %v", rep, err)
	}
}

// TestUpgradeInterrupted stops the upgrade at each step as a crash would:
// before the switch the repository is format 1 and works as before, after
// it format 2; either way the next upgrade finishes the job and every
// snapshot reads back.
func TestUpgradeInterrupted(t *testing.T) {
	for _, at := range []string{"packs", "checkpoint", "catalog", "switched", "deleting"} {
		t.Run(at, func(t *testing.T) {
			ctx := context.Background()
			repo, src := newFormat1(t)
			r, _ := Open(ctx, repo, Options{})
			want := contents(t, r, src)
			r.Close()
			crash := errors.New("crash at " + at)
			upgradeStep = func(s string) error {
				if s == at {
					return crash
				}
				return nil
			}
			_, err := Upgrade(ctx, repo, Options{})
			upgradeStep = nil
			if !errors.Is(err, crash) {
				t.Fatalf("upgrade: %v, want the crash", err)
			}
			r, err = Open(ctx, repo, Options{})
			if err != nil {
				t.Fatalf("open after a crash at %s: %v", at, err)
			}
			switched := at == "switched" || at == "deleting"
			if (r.keys != nil) != switched {
				t.Fatalf("after a crash at %s the repository is format 2: %v", at, r.keys != nil)
			}
			sameContents(t, contents(t, r, src), want)
			if !switched {
				// The old repository still takes snapshots.
				os.WriteFile(filepath.Join(src, "notes", "n07.json"), []byte(`{"note": 7, "text": "after the crash"}`), 0o644)
				if _, err := r.Snapshot(ctx, src, SnapshotOptions{}); err != nil {
					t.Fatalf("snapshot of the format-1 repository after a crash at %s: %v", at, err)
				}
				want = contents(t, r, src)
				if chk, err := r.Check(ctx, true); err != nil || len(chk.Problems) > 0 {
					t.Fatalf("check of the format-1 repository after a crash at %s: %+v, %v", at, chk, err)
				}
				if _, err := r.GC(ctx, GCOptions{}); err != nil {
					t.Fatalf("gc of the format-1 repository after a crash at %s: %v", at, err)
				}
			}
			r.Close()
			rep, err := Upgrade(ctx, repo, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Done != switched {
				t.Errorf("the upgrade after a crash at %s: %+v", at, rep)
			}
			if _, err := os.Stat(filepath.Join(repo, catalogName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the old catalog is left: %v", err)
			}
			r, err = Open(ctx, repo, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			sameContents(t, contents(t, r, src), want)
			if chk, err := r.Check(ctx, true); err != nil || len(chk.Problems) > 0 || len(chk.Unreferenced) > 0 {
				t.Fatalf("check after the finished upgrade: %+v, %v", chk, err)
			}
			if ks, _ := r.Keys(ctx); len(ks) != 1 || ks[0].Kind != KeyLocal {
				t.Errorf("keys after the upgrade: %+v", ks)
			}
		})
	}
}

// TestUpgradeRetiresTheOldCatalog: a process that opened the format-1
// repository before the upgrade cannot commit into the old catalog.
func TestUpgradeRetiresTheOldCatalog(t *testing.T) {
	ctx := context.Background()
	repo, src := newFormat1(t)
	stale, err := Open(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if _, err := Upgrade(ctx, repo, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Tag(ctx, []int64{1}, TagChange{Add: []string{"late"}}); err == nil || !strings.Contains(err.Error(), "upgraded to format 2") {
		t.Fatalf("a tag through a Repo opened before the upgrade: %v", err)
	}
	os.WriteFile(filepath.Join(src, "notes", "n01.json"), []byte(`{"note": 1, "text": "too late"}`), 0o644)
	if _, err = stale.Snapshot(ctx, src, SnapshotOptions{}); err == nil {
		t.Fatal("a snapshot through a Repo opened before the upgrade succeeded")
	}
	r, err := Open(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if snaps, _ := r.Snapshots(ctx, SnapshotFilter{}); len(snaps) != 2 {
		t.Fatalf("the upgraded repository has %d snapshots, want 2", len(snaps))
	}
}

// TestUpgradeTwiceAtOnce: an upgrade that waited for the lock while
// another ran finds format 2 and leaves it alone (it must not take the new
// local/, with the only copy of the key, for an interrupted attempt's).
func TestUpgradeTwiceAtOnce(t *testing.T) {
	ctx := context.Background()
	repo, src := newFormat1(t)
	r, _ := Open(ctx, repo, Options{})
	want := contents(t, r, src)
	r.Close()
	type result struct {
		rep *UpgradeReport
		err error
	}
	second := make(chan result, 1)
	var once sync.Once
	waiting := make(chan struct{})
	upgradeStep = func(s string) error {
		once.Do(func() {
			go func() {
				rep, err := Upgrade(ctx, repo, Options{Waiting: func(string) { close(waiting) }})
				second <- result{rep, err}
			}()
			<-waiting // the second upgrade is blocked on the lock
		})
		return nil
	}
	defer func() { upgradeStep = nil }()
	if _, err := Upgrade(ctx, repo, Options{}); err != nil {
		t.Fatal(err)
	}
	got := <-second
	if got.err != nil || !got.rep.Done {
		t.Fatalf("the second upgrade: %+v, %v", got.rep, got.err)
	}
	r, err := Open(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sameContents(t, contents(t, r, src), want)
}

// TestMeasureUpgrade times the upgrade of a format-1 repository holding
// one snapshot of $CAIRN_UPGRADE_CORPUS (e.g. $(go env GOROOT)/src), and
// the unchanged snapshot after it.
func TestMeasureUpgrade(t *testing.T) {
	corpus := os.Getenv("CAIRN_UPGRADE_CORPUS")
	if corpus == "" {
		t.Skip("set CAIRN_UPGRADE_CORPUS to a directory to measure")
	}
	ctx := context.Background()
	repo := filepath.Join(t.TempDir(), "repo")
	os.MkdirAll(repo, 0o700)
	db, err := catalog.Open(ctx, filepath.Join(repo, catalogName), true)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	r, err := Open(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.Snapshot(ctx, corpus, SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	rep, err := Upgrade(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("format-1 snapshot: %d files, %d bytes, %d stored in %v; upgrade: %d packs, %d chunks, %d bytes read, %d written in %v",
		first.Files, first.TotalBytes, first.BytesAdded, first.Duration, rep.Packs, rep.Chunks, rep.BytesRead, rep.BytesWritten, rep.Duration)
	r, err = Open(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	next, err := r.Snapshot(ctx, corpus, SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unchanged snapshot after the upgrade: %d bytes read, %d added", next.BytesRead, next.BytesAdded)
}
