package cairn_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/internal/s3test"
	"github.com/cairn-dev/cairn/restore"
)

// remoteEnv points the AWS credentials at srv and the cache at a fresh
// directory (a machine of its own); it returns the cache directory.
func remoteEnv(t *testing.T, srv *s3test.Server) string {
	t.Helper()
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return newMachine(t)
}

// newMachine gives the process a fresh, empty cache directory.
func newMachine(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	return cache
}

// countRequests makes every S3 store Open creates from now on count its
// requests in the returned counter.
func countRequests(t *testing.T) *requestCounter {
	rc := &requestCounter{n: map[string]int{}}
	cairn.SetS3TransportForTest(func(rt http.RoundTripper) http.RoundTripper {
		return countingTransport{rt, rc}
	})
	t.Cleanup(func() { cairn.SetS3TransportForTest(nil) })
	return rc
}

// countingTransport counts into a requestCounter shared by several stores.
type countingTransport struct {
	inner http.RoundTripper
	c     *requestCounter
}

func (ct countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	k := req.Method
	if k == http.MethodGet && req.URL.Query().Has("list-type") {
		k = "LIST"
	}
	ct.c.mu.Lock()
	ct.c.n[k]++
	if os.Getenv("CAIRN_TEST_TRACE_S3") != "" {
		fmt.Println("S3", k, req.URL.String())
	}
	ct.c.mu.Unlock()
	return ct.inner.RoundTrip(req)
}

// history is the snapshots a test took of one source, with the tree each
// should restore to.
type history struct {
	src    string
	ids    []int64
	states []manifest
}

func (h *history) snap(t *testing.T, repo *cairn.Repo) *cairn.SnapshotResult {
	t.Helper()
	res, err := repo.Snapshot(context.Background(), h.src, cairn.SnapshotOptions{})
	if err != nil {
		t.Fatalf("snapshot %s: %v", h.src, err)
	}
	h.ids, h.states = append(h.ids, res.ID), append(h.states, takeManifest(t, h.src))
	return res
}

// restoreEvery restores every snapshot of h from repo and compares it
// byte for byte with the tree it was taken of.
func (h *history) restoreEvery(t *testing.T, label string, repo *cairn.Repo) {
	t.Helper()
	ctx := context.Background()
	for i, id := range h.ids {
		req, _, err := repo.Resolve(ctx, h.src, id, false)
		if err != nil {
			t.Fatalf("%s: resolve snapshot %d: %v", label, id, err)
		}
		to := filepath.Join(t.TempDir(), "to")
		if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
			t.Fatalf("%s: restore snapshot %d: %v", label, id, err)
		}
		compareTrees(t, fmt.Sprintf("%s: snapshot %d", label, id), h.states[i], takeManifest(t, to))
	}
}

// change edits the source a little: one file rewritten, one added.
func (h *history) change(t *testing.T, round int) {
	t.Helper()
	p := filepath.Join(h.src, fmt.Sprintf("d%d", round%7), fmt.Sprintf("round%03d.json", round))
	if err := os.WriteFile(p, fmt.Appendf(nil, `{"round": %d}`, round), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.src, "state.json"), fmt.Appendf(nil, `{"last": %d}`, round), 0o644); err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-time.Minute)
	filepath.WalkDir(h.src, func(p string, _ os.DirEntry, _ error) error { return os.Chtimes(p, then, then) })
}

// TestRemotePrimary: a repository at s3://bucket/prefix (versitygw on
// loopback) keeps its catalog in the cache; an unchanged snapshot costs at
// most 2 requests; creation without a password is refused; with the whole
// cache deleted, RepairCatalog (cairn recover) with the password alone
// brings back every snapshot, each restoring byte for byte, and the
// repository takes snapshots again; a cache lost without recover is
// rebuilt by Open by itself, which says so.
func TestRemotePrimary(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Versity(t)
	cache := remoteEnv(t, srv)
	loc := "s3://" + srv.Bucket + "/" + s3test.Prefix() + "/home"
	pw := cairn.Options{Password: []byte("correct horse"), S3Endpoint: srv.Endpoint}

	noPw := pw
	noPw.Password, noPw.Create = nil, true
	if _, err := cairn.Open(ctx, loc, noPw); !errors.Is(err, cairn.ErrRemoteNeedsKey) {
		t.Fatalf("create without a password: %v, want ErrRemoteNeedsKey", err)
	}
	if _, err := cairn.Open(ctx, loc, pw); !errors.Is(err, cairn.ErrNoRepository) {
		t.Fatalf("open of an empty prefix: %v, want ErrNoRepository", err)
	}

	h := &history{src: filepath.Join(t.TempDir(), "src")}
	writeTree(t, h.src, 1)
	create := pw
	create.Create = true
	repo, err := cairn.Open(ctx, loc, create)
	if err != nil {
		t.Fatal(err)
	}
	if !repo.Remote() || repo.Dir != loc || !strings.HasPrefix(repo.LocalDir(), filepath.Join(cache, "cairn")+"/") {
		t.Fatalf("repo.Dir %s, LocalDir %s; want the location, and the cache", repo.Dir, repo.LocalDir())
	}
	if _, err := os.Stat(filepath.Join(repo.LocalDir(), "key")); err == nil {
		t.Error("a remote repository has a local key")
	}
	h.snap(t, repo)
	for round := range 3 {
		h.change(t, round)
		h.snap(t, repo)
	}
	repo.Close()

	// An unchanged snapshot, in a new process: requests of Open and of
	// the snapshot counted apart.
	rc := countRequests(t)
	start := time.Now()
	repo, err = cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	openReqs, openN := rc.take()
	openTime := time.Since(start)
	start = time.Now()
	res := h.snap(t, repo)
	snapTime := time.Since(start)
	snapReqs, snapN := rc.take()
	t.Logf("unchanged snapshot to %s: open %v with %d requests (%s); snapshot %v with %d requests (%s)",
		loc, openTime.Round(time.Millisecond), openN, openReqs, snapTime.Round(time.Millisecond), snapN, snapReqs)
	if res.BytesAdded != 0 {
		t.Errorf("unchanged snapshot added %d bytes", res.BytesAdded)
	}
	if snapN > 2 {
		t.Errorf("unchanged snapshot sent %d requests (%s); want at most 2", snapN, snapReqs)
	}
	// cairn.repo, the key files (LIST, GET), the next record (a 404) and
	// the log's end (LIST): no HEAD of the bucket once an object was read.
	if openN > 5 {
		t.Errorf("Open sent %d requests (%s); want at most 5", openN, openReqs)
	}
	repo.Close()
	cairn.SetS3TransportForTest(nil)

	// A new machine: the whole cache is gone; the bucket and the password
	// are all there is.
	if err := os.RemoveAll(cache); err != nil {
		t.Fatal(err)
	}
	newMachine(t)
	start = time.Now()
	rep, err := cairn.RepairCatalog(ctx, loc, pw)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	t.Logf("recover of %d snapshots in %v: %+v", rep.Snapshots, time.Since(start).Round(time.Millisecond), *rep)
	if rep.Snapshots != len(h.ids) {
		t.Errorf("recover found %d snapshots, want %d", rep.Snapshots, len(h.ids))
	}
	repo, err = cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	h.restoreEvery(t, "recovered", repo)
	h.change(t, 10)
	h.snap(t, repo)

	// A repository in a bucket replicates too: to a directory, which a
	// new machine recovers.
	dirReplica := filepath.Join(t.TempDir(), "replica")
	if rep, err := repo.Replicate(ctx, dirReplica, cairn.ReplicateOptions{}); err != nil || rep.Packs == 0 {
		t.Fatalf("replicate from the bucket to a directory: %v, %+v", err, rep)
	}
	if _, err := repo.Replicate(ctx, loc, cairn.ReplicateOptions{S3Endpoint: srv.Endpoint}); err == nil {
		t.Error("a repository replicated onto itself")
	}
	repo.Close()
	newMachine(t)
	if _, err := cairn.RepairCatalog(ctx, dirReplica, pw); err != nil {
		t.Fatalf("recover the directory replica: %v", err)
	}
	replicaRepo, err := cairn.Open(ctx, dirReplica, pw)
	if err != nil {
		t.Fatal(err)
	}
	h.restoreEvery(t, "replica of the bucket", replicaRepo)
	replicaRepo.Close()

	// This new machine's cache holds no catalog of the bucket's
	// repository, and recover was not run: Open rebuilds it and says so.
	var said []string
	notify := pw
	notify.Notify = func(msg string) { said = append(said, msg) }
	repo, err = cairn.Open(ctx, loc, notify)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if len(said) != 1 || !strings.Contains(said[0], "rebuilt it from the repository's log") {
		t.Errorf("Open after the catalog was lost said %q; want that it rebuilt the catalog", said)
	}
	h.restoreEvery(t, "rebuilt by open", repo)
}

// TestRemoteReplicate: a local repository with a password replicates to
// S3 (versitygw) and to a directory; a second replicate copies nothing,
// and after more snapshots only the new packs and records; a replicate
// interrupted after its first pack finishes at the next call; a target
// holding another repository is refused, and so is a repository whose
// only key is local/key. Then, on a new machine (a fresh cache), each
// replica is recovered with the password alone and every snapshot
// restores byte for byte.
func TestRemoteReplicate(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Versity(t)
	remoteEnv(t, srv)
	base := t.TempDir()
	pw := cairn.Options{Password: []byte("correct horse"), S3Endpoint: srv.Endpoint}
	create := pw
	create.Create = true
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), create)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { repo.Close() }()
	h := &history{src: filepath.Join(base, "src")}
	writeTree(t, h.src, 1)
	h.snap(t, repo)
	h.change(t, 1)
	h.snap(t, repo)

	replica := "s3://" + srv.Bucket + "/" + s3test.Prefix() + "/replica"
	dirReplica := filepath.Join(base, "replica")
	ropts := cairn.ReplicateOptions{S3Endpoint: srv.Endpoint}

	// Interrupted after its first pack: the next call finishes.
	cctx, cancel := context.WithCancel(ctx)
	interrupted := ropts
	interrupted.Copied = func(key string, _ int64) {
		if strings.HasPrefix(key, "packs/") {
			cancel()
		}
	}
	if _, err := repo.Replicate(cctx, replica, interrupted); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replicate: %v, want context.Canceled", err)
	}
	for _, to := range []string{replica, dirReplica} {
		rep, err := repo.Replicate(ctx, to, ropts)
		if err != nil {
			t.Fatalf("replicate to %s: %v", to, err)
		}
		t.Logf("first replicate to %s: %+v", to, *rep)
		if rep.Packs == 0 || rep.Objects == 0 {
			t.Errorf("replicate to %s copied %d packs, %d objects", to, rep.Packs, rep.Objects)
		}
		again, err := repo.Replicate(ctx, to, ropts)
		if err != nil {
			t.Fatal(err)
		}
		if again.Packs+again.Objects != 0 || again.PresentPacks != rep.Packs+rep.PresentPacks {
			t.Errorf("replicate again to %s: %+v; want nothing copied", to, *again)
		}
	}
	h.change(t, 2)
	h.snap(t, repo)
	h.change(t, 3)
	h.snap(t, repo)
	for _, to := range []string{replica, dirReplica} {
		rep, err := repo.Replicate(ctx, to, ropts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("replicate after 2 more snapshots to %s: %+v", to, *rep)
		if rep.Objects != 2 || rep.Packs > 2 || rep.PresentPacks == 0 {
			t.Errorf("replicate after 2 snapshots to %s: %+v; want their 2 records and at most their 2 packs", to, *rep)
		}
	}

	// A pack truncated on each replica (what versitygw keeps of a PUT
	// whose client was killed) is copied again.
	packs, _ := filepath.Glob(filepath.Join(dirReplica, "packs", "*", "*.pack"))
	if len(packs) == 0 {
		t.Fatal("no pack in the directory replica")
	}
	if err := os.Truncate(packs[0], 1000); err != nil {
		t.Fatal(err)
	}
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimPrefix(replica, "s3://"+srv.Bucket+"/")
	var s3Pack string
	for obj := range client.ListObjects(ctx, srv.Bucket, minio.ListObjectsOptions{Prefix: prefix + "/packs/", Recursive: true}) {
		if obj.Err == nil && s3Pack == "" {
			s3Pack = obj.Key
		}
	}
	if _, err := client.PutObject(ctx, srv.Bucket, s3Pack, strings.NewReader("truncated"), 9, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{replica, dirReplica} {
		rep, err := repo.Replicate(ctx, to, ropts)
		if err != nil {
			t.Fatalf("replicate over a truncated pack to %s: %v", to, err)
		}
		if len(rep.Replaced) != 1 || rep.Packs != 1 {
			t.Errorf("replicate over a truncated pack to %s: %+v; want it replaced", to, *rep)
		}
	}

	// Refusals: another repository's replica; a repository with only
	// local/key.
	other, err := cairn.Open(ctx, filepath.Join(base, "other"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Replicate(ctx, replica, ropts); !errors.Is(err, cairn.ErrOnlyLocalKey) {
		t.Errorf("replicate of a repository with only local/key: %v, want ErrOnlyLocalKey", err)
	}
	if _, err := other.AddKey(ctx, cairn.NewKey{Password: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Replicate(ctx, replica, ropts); !errors.Is(err, cairn.ErrOtherRepository) {
		t.Errorf("replicate onto another repository's replica: %v, want ErrOtherRepository", err)
	}

	// A new machine recovers each replica with the password alone.
	for _, from := range []string{replica, dirReplica} {
		newMachine(t)
		rep, err := cairn.RepairCatalog(ctx, from, pw)
		if err != nil {
			t.Fatalf("recover %s: %v", from, err)
		}
		if rep.Snapshots != len(h.ids) {
			t.Errorf("recover of %s: %d snapshots, want %d", from, rep.Snapshots, len(h.ids))
		}
		r, err := cairn.Open(ctx, from, pw)
		if err != nil {
			t.Fatal(err)
		}
		h.restoreEvery(t, "from "+from, r)
		r.Close()
	}
}

// TestRemoteMeasure: the figures of a remote-primary repository
// (versitygw on loopback): an unchanged snapshot (median of 5, wall time
// and requests, Open apart), and recover of a repository of
// $CAIRN_REMOTE_SNAPSHOTS (default 40) snapshots with the cache deleted.
func TestRemoteMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("takes tens of snapshots")
	}
	ctx := context.Background()
	srv := s3test.Versity(t)
	cache := remoteEnv(t, srv)
	n := 40
	if s := os.Getenv("CAIRN_REMOTE_SNAPSHOTS"); s != "" {
		fmt.Sscan(s, &n)
	}
	loc := "s3://" + srv.Bucket + "/" + s3test.Prefix()
	pw := cairn.Options{Password: []byte("correct horse"), S3Endpoint: srv.Endpoint}
	create := pw
	create.Create = true
	repo, err := cairn.Open(ctx, loc, create)
	if err != nil {
		t.Fatal(err)
	}
	h := &history{src: filepath.Join(t.TempDir(), "src")}
	writeTree(t, h.src, 1)
	start := time.Now()
	for round := range n {
		if round > 0 {
			h.change(t, round)
		}
		h.snap(t, repo)
	}
	t.Logf("%d snapshots (the first %d files, then 2 changed each) in %v", n, len(h.states[0]), time.Since(start).Round(time.Millisecond))
	repo.Close()

	rc := countRequests(t)
	var opens, snaps []time.Duration
	var openReqs, snapReqs string
	for range 5 {
		start := time.Now()
		repo, err := cairn.Open(ctx, loc, pw)
		if err != nil {
			t.Fatal(err)
		}
		opens = append(opens, time.Since(start))
		openReqs, _ = rc.take()
		start = time.Now()
		res, err := repo.Snapshot(ctx, h.src, cairn.SnapshotOptions{})
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, time.Since(start))
		var k int
		snapReqs, k = rc.take()
		if res.BytesAdded != 0 || k > 2 {
			t.Errorf("unchanged snapshot added %d bytes with %d requests (%s)", res.BytesAdded, k, snapReqs)
		}
		repo.Close()
		rc.take()
	}
	t.Logf("unchanged snapshot: Open median %v (%s, with the password's argon2id lowered for tests), snapshot median %v (%s)",
		median(opens), openReqs, median(snaps), snapReqs)
	cairn.SetS3TransportForTest(nil)

	os.RemoveAll(cache)
	newMachine(t)
	start = time.Now()
	rep, err := cairn.RepairCatalog(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recover of %d snapshots (cache deleted): %v, from checkpoint %d up to record %d", rep.Snapshots, time.Since(start).Round(time.Millisecond), rep.Checkpoint, rep.Applied)
	if rep.Snapshots != n+5 {
		t.Errorf("recover found %d snapshots, want %d", rep.Snapshots, n+5)
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2].Round(time.Millisecond)
}
