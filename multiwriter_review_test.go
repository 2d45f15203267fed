package cairn_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/metalog"
)

// TestPruneBehindLaggingWriter: beta, a writer with no checkpoint of its
// own (a machine with few snapshots never writes one), last read alpha's
// log early; alpha then checkpoints and gc prunes its log. beta's next
// command must still open and see every alpha snapshot.
func TestPruneBehindLaggingWriter(t *testing.T) {
	defer func(r, b int64) { metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint = r, b }(metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint)
	ctx := context.Background()
	loc := filepath.Join(t.TempDir(), "repo")
	base := cairn.Options{Password: []byte("correct horse")}
	create := base
	create.Create = true
	alpha, beta := dirInstallation(t, "alpha", create), dirInstallation(t, "beta", base)
	ha := &history{src: filepath.Join(t.TempDir(), "a", "src")}
	hb := &history{src: filepath.Join(t.TempDir(), "b", "src")}
	writeTree(t, ha.src, 1)
	writeTree(t, hb.src, 2)

	a := alpha.open(t, loc)
	ha.snap(t, a)
	a.Close()
	b := beta.open(t, loc)
	hb.snap(t, b)
	b.Close()

	metalog.RecordsPerCheckpoint = 4
	for round := range 12 {
		a = alpha.open(t, loc)
		ha.change(t, round)
		ha.snap(t, a)
		a.Close()
	}
	a = alpha.open(t, loc)
	if _, err := a.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	w, err := os.ReadFile(filepath.Join(alpha.opts.LocalDir, "writer"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(loc, "log", strings.TrimSpace(string(w)), fmt.Sprintf("%020d", 3))); err == nil {
		t.Fatal("alpha's log was not pruned: the test proves nothing")
	}

	metalog.RecordsPerCheckpoint = 1000
	b = beta.open(t, loc)
	defer b.Close()
	restoreEach(t, "beta restores alpha's", b, ha, hostIDs(t, b, "alpha", ha))
	hb.change(t, 1)
	hb.snap(t, b)
	restoreEach(t, "beta restores its own", b, hb, hb.ids)
}

// TestOlderWriterComesBack: a repository written by a cairn before
// several writers (its one writer recorded no host name) is joined by a
// second host; the first then meets it and records its host name, in a
// record well past its log's first three. When the first host loses its
// writer file and catalog, it must continue its own log, not become a
// new writer beside it (whose host name would make HOST:N ambiguous).
func TestOlderWriterComesBack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	untar(t, "testdata/format2-record-v1.tar.gz", dir)
	repoDir := filepath.Join(dir, "repo")
	t.Setenv("CAIRN_LOCAL_DIR", "")
	t.Setenv("CAIRN_HOST", "alpha")
	alpha := cairn.Options{CatchUp: cairn.CatchUpAlways}
	a, err := cairn.Open(ctx, repoDir, alpha)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddKey(ctx, cairn.NewKey{Password: []byte("correct horse")}); err != nil {
		t.Fatal(err)
	}
	old, err := a.Snapshots(ctx, cairn.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	writer, err := os.ReadFile(filepath.Join(repoDir, "local", "writer"))
	if err != nil {
		t.Fatal(err)
	}

	beta := dirInstallation(t, "beta", cairn.Options{Password: []byte("correct horse")})
	hb := &history{src: filepath.Join(t.TempDir(), "b", "src")}
	writeTree(t, hb.src, 3)
	b := beta.open(t, repoDir)
	hb.snap(t, b)
	b.Close()

	t.Setenv("CAIRN_HOST", "alpha")
	a, err = cairn.Open(ctx, repoDir, alpha) // meets beta: records its host name
	if err != nil {
		t.Fatal(err)
	}
	a.Close()

	// alpha loses its writer file and its catalog.
	for _, name := range []string{"writer", "catalog.db", "catalog.db-wal", "catalog.db-shm", "others-caught-up"} {
		os.Remove(filepath.Join(repoDir, "local", name))
	}
	a, err = cairn.Open(ctx, repoDir, alpha)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got, err := os.ReadFile(filepath.Join(repoDir, "local", "writer"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(writer) {
		t.Errorf("alpha came back as writer %q, not its own %q", strings.TrimSpace(string(got)), strings.TrimSpace(string(writer)))
	}
	snaps, err := a.Snapshots(ctx, cairn.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	own := 0
	for _, s := range snaps {
		if s.Writer == 0 {
			own++
		}
	}
	if own != len(old) {
		t.Errorf("alpha has %d snapshots of its own, want its %d", own, len(old))
	}
	if _, err := a.HostSnapshotID(ctx, "alpha", old[0].ID); err != nil {
		t.Errorf("alpha:%d: %v", old[0].ID, err)
	}
}

// TestSecondHostAfterPrune: a repository of one writer whose log gc
// pruned (its join record with it) is joined by a second host, which must
// become a writer of its own, not continue the first one's log.
func TestSecondHostAfterPrune(t *testing.T) {
	defer func(r, b int64) { metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint = r, b }(metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint)
	metalog.RecordsPerCheckpoint = 4
	ctx := context.Background()
	loc := filepath.Join(t.TempDir(), "repo")
	base := cairn.Options{Password: []byte("correct horse")}
	create := base
	create.Create = true
	alpha, beta := dirInstallation(t, "alpha", create), dirInstallation(t, "beta", base)
	ha := &history{src: filepath.Join(t.TempDir(), "a", "src")}
	writeTree(t, ha.src, 1)
	for round := range 12 {
		a := alpha.open(t, loc)
		ha.change(t, round)
		ha.snap(t, a)
		a.Close()
	}
	a := alpha.open(t, loc)
	if _, err := a.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	w, err := os.ReadFile(filepath.Join(alpha.opts.LocalDir, "writer"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(loc, "log", strings.TrimSpace(string(w)), fmt.Sprintf("%020d", 2))); err == nil {
		t.Fatal("alpha's log was not pruned: the test proves nothing")
	}
	b := beta.open(t, loc)
	defer b.Close()
	hosts, err := b.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || hosts[0].Writer == hosts[1].Writer || hosts[0].Name != "beta" {
		t.Fatalf("beta's hosts after alpha's log was pruned: %+v; want beta a writer beside alpha", hosts)
	}
	restoreEach(t, "beta restores alpha's", b, ha, hostIDs(t, b, "alpha", ha))
}

// TestPruneBeforeFirstMeeting: beta, with rows of its own and no
// checkpoint, meets alpha for the first time after alpha's gc pruned its
// log: beta's next command must still open and see alpha's snapshots.
func TestPruneBeforeFirstMeeting(t *testing.T) {
	defer func(r, b int64) { metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint = r, b }(metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint)
	ctx := context.Background()
	loc := filepath.Join(t.TempDir(), "repo")
	base := cairn.Options{Password: []byte("correct horse")}
	create := base
	create.Create = true
	beta, alpha := dirInstallation(t, "beta", create), dirInstallation(t, "alpha", base)
	ha := &history{src: filepath.Join(t.TempDir(), "a", "src")}
	hb := &history{src: filepath.Join(t.TempDir(), "b", "src")}
	writeTree(t, ha.src, 1)
	writeTree(t, hb.src, 2)
	b := beta.open(t, loc)
	hb.snap(t, b)
	b.Close()

	metalog.RecordsPerCheckpoint = 4
	for round := range 12 {
		a := alpha.open(t, loc)
		ha.change(t, round)
		ha.snap(t, a)
		a.Close()
	}
	a := alpha.open(t, loc)
	if _, err := a.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	w, err := os.ReadFile(filepath.Join(alpha.opts.LocalDir, "writer"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(loc, "log", strings.TrimSpace(string(w)), fmt.Sprintf("%020d", 1))); err == nil {
		t.Fatal("alpha's log was not pruned: the test proves nothing")
	}

	metalog.RecordsPerCheckpoint = 1000
	b = beta.open(t, loc)
	defer b.Close()
	restoreEach(t, "beta restores alpha's", b, ha, hostIDs(t, b, "alpha", ha))
	restoreEach(t, "beta restores its own", b, hb, hb.ids)
}
