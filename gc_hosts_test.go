package cairn_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/internal/s3test"
)

// TestStaleHostDoesNotDedupCondemned: alpha's gc condemns a pack of
// chunks that beta's catalog, which has not read alpha's gc records yet,
// still lists. beta's next snapshot of the same bytes lists gc/, treats
// them as absent and stores them again (without that it would refer to
// rows alpha dropped, in a pack the next gc deletes); after alpha's gc
// --grace 0 carries the plan out, beta's snapshot restores byte for byte.
func TestStaleHostDoesNotDedupCondemned(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Versity(t)
	remoteEnv(t, srv)
	loc := "s3://" + srv.Bucket + "/" + s3test.Prefix() + "/stale"
	base := cairn.Options{Password: []byte("correct horse"), S3Endpoint: srv.Endpoint}
	create := base
	create.Create = true
	alpha := bucketInstallation(t, "alpha", create)
	beta := bucketInstallation(t, "beta", base)

	old := make([]byte, 2<<20)
	rand.Read(old)
	ha := &history{src: filepath.Join(t.TempDir(), "a")}
	hb := &history{src: filepath.Join(t.TempDir(), "b")}
	writeAged(t, filepath.Join(ha.src, "data.bin"), old)
	writeAged(t, filepath.Join(hb.src, "other.txt"), []byte("beta's own file"))

	a := alpha.open(t, loc)
	first := ha.snap(t, a).ID
	a.Close()
	b := beta.open(t, loc) // reads alpha's records: it knows old's chunks
	hb.snap(t, b)
	b.Close()

	// alpha replaces the file and forgets the snapshot that had it: its
	// gc condemns the pack of old's chunks.
	a = alpha.open(t, loc)
	fresh := make([]byte, 1<<20)
	rand.Read(fresh)
	writeAged(t, filepath.Join(ha.src, "data.bin"), fresh)
	ha.snap(t, a)
	if _, err := a.Forget(ctx, cairn.ForgetOptions{IDs: []int64{first}}); err != nil {
		t.Fatal(err)
	}
	ha.ids, ha.states = ha.ids[1:], ha.states[1:]
	rep, err := a.GC(ctx, cairn.GCOptions{Grace: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Condemned == 0 || rep.RemovedPacks != 0 {
		t.Fatalf("alpha's gc: %+v; want old's pack condemned, nothing deleted", rep)
	}
	a.Close()

	// beta has not read alpha's gc records (no catch-up), so its catalog
	// still places old's chunks in the condemned pack.
	beta.opts.CatchUp = cairn.CatchUpNever
	b = beta.open(t, loc)
	writeAged(t, filepath.Join(hb.src, "copy.bin"), old)
	res := hb.snap(t, b)
	b.Close()
	if res.BytesAdded < int64(len(old)) {
		t.Fatalf("beta's snapshot of the condemned bytes stored %d bytes; want them stored again (>= %d)", res.BytesAdded, len(old))
	}

	a = alpha.open(t, loc)
	if rep, err = a.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if rep.RemovedPacks == 0 {
		t.Fatalf("alpha's gc --grace 0: %+v; want the condemned pack deleted", rep)
	}
	ha.restoreEvery(t, "alpha", a)
	a.Close()
	beta.opts.CatchUp = cairn.CatchUpAlways
	b = beta.open(t, loc)
	defer b.Close()
	hb.restoreEvery(t, "beta", b)
	if crep, err := b.Check(ctx, true); err != nil || !crep.OK() {
		t.Fatalf("beta's check: %v %v", err, crep)
	}
}

func writeAged(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-time.Hour)
	os.Chtimes(path, then, then)
}

// TestRemoteGCRequests measures what the lease and the plans cost a gc of
// a repository in a bucket: a gc with nothing to collect, one that
// condemns (default grace), one that carries the plan out (grace 0).
func TestRemoteGCRequests(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Versity(t)
	remoteEnv(t, srv)
	loc := "s3://" + srv.Bucket + "/" + s3test.Prefix() + "/gcreq"
	opts := cairn.Options{Password: []byte("correct horse"), S3Endpoint: srv.Endpoint, Create: true}
	h := &history{src: filepath.Join(t.TempDir(), "src")}
	writeTree(t, h.src, 3)
	repo, err := cairn.Open(ctx, loc, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	h.snap(t, repo)
	rc := countRequests(t)
	// The counter wraps stores Open makes from now on.
	repo.Close()
	if repo, err = cairn.Open(ctx, loc, opts); err != nil {
		t.Fatal(err)
	}
	rc.take()
	for _, step := range []struct {
		name  string
		grace time.Duration
		prep  func()
	}{
		{"nothing to collect", 0, func() {}},
		{"condemn (grace 24h)", 24 * time.Hour, func() {
			h.change(t, 1)
			h.snap(t, repo)
			if _, err := repo.Forget(ctx, cairn.ForgetOptions{IDs: []int64{h.ids[0]}}); err != nil {
				t.Fatal(err)
			}
			h.ids, h.states = h.ids[1:], h.states[1:]
		}},
		{"carry out (grace 0)", 0, func() {}},
	} {
		step.prep()
		rc.take()
		start := time.Now()
		rep, err := repo.GC(ctx, cairn.GCOptions{Grace: step.grace})
		if err != nil {
			t.Fatal(err)
		}
		reqs, n := rc.take()
		t.Logf("gc, %s: %v, %d requests (%s); condemned %d, removed %d", step.name, time.Since(start).Round(time.Millisecond), n, reqs, rep.Condemned, rep.RemovedPacks)
	}
	h.restoreEvery(t, "after gc", repo)
}
