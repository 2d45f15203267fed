package cairn_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/blobstore/faultstore"
	"github.com/cairn-dev/cairn/blobstore/s3store"
	"github.com/cairn-dev/cairn/internal/s3test"
	"github.com/cairn-dev/cairn/restore"
)

// requestCounter counts the requests a store sends, by method (LIST for
// a GET that lists).
type requestCounter struct {
	inner http.RoundTripper
	mu    sync.Mutex
	n     map[string]int
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	k := req.Method
	if k == http.MethodGet && req.URL.Query().Has("list-type") {
		k = "LIST"
	}
	c.mu.Lock()
	c.n[k]++
	c.mu.Unlock()
	return c.inner.RoundTrip(req)
}

// take returns the counts since the last take, as "GET 3, PUT 1" and a
// total.
func (c *requestCounter) take() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	total := 0
	for k, v := range c.n {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
		total += v
	}
	sort.Strings(parts)
	c.n = map[string]int{}
	return strings.Join(parts, ", "), total
}

func openS3Store(t *testing.T, srv *s3test.Server, prefix string) (*s3store.Store, *requestCounter) {
	t.Helper()
	rc := &requestCounter{n: map[string]int{}}
	s, err := s3store.New(s3store.Config{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: prefix,
		Creds:  credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		TmpDir: t.TempDir(),
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			rc.inner = rt
			return rc
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, rc
}

// writeTree fills dir with small text files and a few large random ones
// (more than one pack's worth).
func writeTree(t *testing.T, dir string, seed uint64) {
	t.Helper()
	// Dated a minute back, so that no snapshot takes the files for racy
	// (modified as it starts) and reads them again.
	defer func() {
		then := time.Now().Add(-time.Minute)
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil {
				os.Chtimes(p, then, then)
			}
			return nil
		})
	}()
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range 120 {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d.json", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, fmt.Appendf(nil, `{"n": %d, "pad": %q}`, i, strings.Repeat("x", r.IntN(5000))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		b := make([]byte, 7<<20+r.IntN(1<<20))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("big%d.bin", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestS3RoundTrip: a repository whose packs live in a real S3 server
// (versitygw on loopback) snapshots, restores byte for byte, forgets and
// collects garbage, and reopens from the bucket.
func TestS3RoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Versity(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeTree(t, src, 1)
	prefix := "hosts/" + s3test.Prefix()
	store, rc := openS3Store(t, srv, prefix)
	repoDir := filepath.Join(base, "repo")
	repo, err := cairn.Open(ctx, repoDir, cairn.Options{Create: true, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { repo.Close() }()
	rc.take()

	var states []manifest
	var ids []int64
	snap := func(what string) *cairn.SnapshotResult {
		t.Helper()
		start := time.Now()
		res, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		reqs, n := rc.take()
		t.Logf("%s: snapshot %d in %v, %d files, %d bytes read, %d added, %d requests (%s)",
			what, res.ID, time.Since(start).Round(time.Millisecond), res.Files, res.BytesRead, res.BytesAdded, n, reqs)
		states, ids = append(states, takeManifest(t, src)), append(ids, res.ID)
		if res.BytesAdded == 0 && n > 2 {
			t.Errorf("%s sent %d requests (%s); an unchanged snapshot may send at most 2", what, n, reqs)
		}
		return res
	}
	first := snap("first snapshot")
	if first.BytesAdded < 16<<20 {
		t.Fatalf("first snapshot added %d bytes; the test wants more than one pack", first.BytesAdded)
	}
	if packs, _ := filepath.Glob(filepath.Join(repoDir, "packs", "*", "*")); len(packs) != 0 {
		t.Errorf("packs/ holds %v; the packs belong in the bucket", packs)
	}
	onServer := func() int {
		n := 0
		if err := store.List(ctx, func(string, int64) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := onServer(); n < 2 {
		t.Errorf("the bucket holds %d packs; want at least 2", n)
	}
	rc.take()

	// Change a big file, remove and add small ones.
	writeTree(t, filepath.Join(src, "d9"), 2)
	if err := os.Remove(filepath.Join(src, "big1.bin")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(src, "d3"))
	snap("changed snapshot")
	unchanged := snap("unchanged snapshot")
	if unchanged.BytesAdded != 0 {
		t.Errorf("unchanged snapshot added %d bytes", unchanged.BytesAdded)
	}
	if unchanged.BytesRead != 0 {
		t.Errorf("unchanged snapshot read %d bytes", unchanged.BytesRead)
	}

	restoreAll := func(label string, repo *cairn.Repo, which []int) {
		t.Helper()
		for _, i := range which {
			req, _, err := repo.Resolve(ctx, src, ids[i], false)
			if err != nil {
				t.Fatalf("resolve snapshot %d: %v", ids[i], err)
			}
			to := filepath.Join(base, fmt.Sprintf("%s-%d", label, ids[i]))
			start := time.Now()
			if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
				t.Fatalf("restore snapshot %d: %v", ids[i], err)
			}
			reqs, n := rc.take()
			t.Logf("%s: restore of snapshot %d in %v, %d requests (%s)", label, ids[i], time.Since(start).Round(time.Millisecond), n, reqs)
			compareTrees(t, fmt.Sprintf("snapshot %d restored from S3", ids[i]), states[i], takeManifest(t, to))
		}
	}
	restoreAll("restored", repo, []int{0, 1, 2})

	// Forget the first snapshot and collect: the packs of big1.bin go.
	before := onServer()
	if _, err := repo.Forget(ctx, cairn.ForgetOptions{IDs: []int64{ids[0]}}); err != nil {
		t.Fatal(err)
	}
	rep, err := repo.GC(ctx, cairn.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reqs, n := rc.take()
	t.Logf("gc: %+v; %d requests (%s)", *rep, n, reqs)
	if rep.DeletedPacks+rep.RepackedPacks == 0 || rep.BytesFreed == 0 {
		t.Errorf("gc after forgetting snapshot %d freed nothing: %+v", ids[0], *rep)
	}
	if after := onServer(); after > before-rep.DeletedPacks-rep.RepackedPacks-rep.MergedPacks+rep.WrittenPacks {
		t.Errorf("the bucket holds %d packs after gc; had %d, gc reports %+v", after, before, *rep)
	}
	check, err := repo.Check(ctx, true)
	if err != nil {
		t.Fatalf("check --read-data: %v", err)
	}
	if !check.OK() {
		t.Errorf("check after gc: %+v", check)
	}
	rc.take()
	restoreAll("after-gc", repo, []int{1, 2})

	// The repository opens again from its catalog with a new store of the
	// same bucket and prefix (a new process).
	if err := repo.Close(); err != nil {
		t.Fatal(err)
	}
	store2, rc2 := openS3Store(t, srv, prefix)
	repo, err = cairn.Open(ctx, repoDir, cairn.Options{Store: store2})
	if err != nil {
		t.Fatal(err)
	}
	rc = rc2
	restoreAll("reopened", repo, []int{2})
}

// TestS3ThroughFaults: snapshots, restores and gc through a fault-injecting
// wrapper of a real S3 store: failed and lost commits, failed HEADs, failed
// and damaged reads, short listings. Every call either fails cleanly or
// does its job; every committed snapshot restores byte for byte once the
// faults stop, and gc after a short listing deletes nothing still used.
func TestS3ThroughFaults(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Versity(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	s3, _ := openS3Store(t, srv, "faults/"+s3test.Prefix())
	store := faultstore.New(s3, testSeed(t))
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	rng := rand.New(rand.NewPCG(testSeed(t), 7))
	var states []manifest
	var ids []int64
	for round := range 8 {
		// A few new files, one of them past a pack, and a changed one.
		for i := range 3 {
			b := make([]byte, 1+rng.IntN(3<<20))
			if i == 0 && round%3 == 0 {
				b = make([]byte, 17<<20)
			}
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			p := filepath.Join(src, fmt.Sprintf("r%d-%d.bin", round, i))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(src, "state.json"), fmt.Appendf(nil, `{"round": %d}`, round), 0o644)
		then := time.Now().Add(-time.Minute)
		filepath.WalkDir(src, func(p string, _ os.DirEntry, _ error) error { return os.Chtimes(p, then, then) })

		store.Set(faultstore.Commit, faultstore.Fault{Probability: 0.25, Lost: round%2 == 0})
		store.Set(faultstore.Create, faultstore.Fault{Probability: 0.05})
		store.Set(faultstore.Stat, faultstore.Fault{Probability: 0.2})
		res, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
		store.Clear()
		if err != nil {
			if !errors.Is(err, faultstore.ErrInjected) {
				t.Errorf("round %d: snapshot failed with %v; want an injected fault", round, err)
			}
			t.Logf("round %d: snapshot failed: %v", round, err)
			continue
		}
		states, ids = append(states, takeManifest(t, src)), append(ids, res.ID)
	}
	if len(ids) < 2 {
		t.Fatalf("only %d of 8 snapshots committed; the faults are too many for the test to mean much", len(ids))
	}
	t.Logf("%d of 8 snapshots committed; %d commits, %d of them faulty", len(ids), store.Calls(faultstore.Commit), store.Injected(faultstore.Commit))

	restoreAll := func(label string, faults bool) {
		t.Helper()
		for i, id := range ids {
			req, _, err := repo.Resolve(ctx, src, id, false)
			if err != nil {
				t.Fatal(err)
			}
			to := filepath.Join(base, fmt.Sprintf("%s-%d", label, id))
			if faults {
				// Failed and damaged reads fail the restore; they never
				// leave wrong bytes behind as a success.
				store.Set(faultstore.ReadAt, faultstore.Fault{Probability: 0.01, Damage: i%2 == 0})
				_, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to})
				store.Clear()
				if err != nil {
					t.Logf("%s: restore of snapshot %d failed: %v", label, id, err)
					os.RemoveAll(to)
					continue
				}
			} else if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
				t.Fatalf("%s: restore of snapshot %d: %v", label, id, err)
			}
			compareTrees(t, fmt.Sprintf("%s: snapshot %d", label, id), states[i], takeManifest(t, to))
			os.RemoveAll(to)
		}
	}
	restoreAll("faulty reads", true)
	restoreAll("restored", false)

	// gc over a listing cut short, then over a failing one, then clean.
	store.Set(faultstore.List, faultstore.Fault{Probability: 1, Short: true})
	if _, err := repo.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Logf("gc over a short listing: %v", err)
	}
	store.Set(faultstore.List, faultstore.Fault{Probability: 1})
	if _, err := repo.GC(ctx, cairn.GCOptions{}); err == nil {
		t.Error("gc over a failing listing succeeded")
	}
	store.Clear()
	rep, err := repo.GC(ctx, cairn.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gc: %+v", *rep)
	restoreAll("after gc", false)
	check, err := repo.Check(ctx, true)
	if err != nil || !check.OK() || len(check.Unreferenced) != 0 {
		t.Errorf("check after gc: %v, %+v", err, check)
	}
}
