package cairn_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/internal/s3test"
)

// TestRemoteUnchangedRequests: an unchanged snapshot of a repository in a
// bucket, in a new process (a new Open) as cairn snap opens it, costs 2
// requests in all, the LIST of gc plans and the PUT of its record: Open
// reads cairn.repo and the key files from this machine's copy and leaves
// the log alone when no record may be unapplied. Before, Open alone sent
// 5 (cairn.repo, LIST and GET of keys/, the next record's 404 and a LIST
// of the log).
func TestRemoteUnchangedRequests(t *testing.T) {
	ctx := context.Background()
	kf := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(kf, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRemote(t, "unchanged", cairn.Options{KeyFile: kf})
	loc, opts, h := r.loc, r.opts, r.h

	for i := range 3 {
		rc := countRequests(t)
		start := time.Now()
		repo, err := cairn.Open(ctx, loc, opts)
		if err != nil {
			t.Fatal(err)
		}
		openReqs, openN := rc.take()
		res := h.snap(t, repo)
		repo.Close()
		reqs, n := rc.take()
		t.Logf("unchanged snapshot %d: %v, open %d requests (%s), snapshot and close %d (%s)", i, time.Since(start).Round(time.Millisecond), openN, openReqs, n, reqs)
		if res.BytesAdded != 0 {
			t.Errorf("unchanged snapshot added %d bytes", res.BytesAdded)
		}
		if openN != 0 || openN+n > 2 {
			t.Errorf("open sent %d requests (%s), the snapshot %d (%s); want none and at most 2", openN, openReqs, n, reqs)
		}
	}
	// What restore and the history reads open with (CatchUpAlways): one
	// listing from checkpoints/ to the end of log/, which finds the
	// writers and where each log ends (nothing per writer when no log has
	// anything new) and confirms the copy's key file.
	always := opts
	always.CatchUp = cairn.CatchUpAlways
	rc := countRequests(t)
	repo, err := cairn.Open(ctx, loc, always)
	if err != nil {
		t.Fatal(err)
	}
	reqs, n := rc.take()
	t.Logf("open reading every writer's log: %d requests (%s)", n, reqs)
	if n > 1 {
		t.Errorf("open reading every writer's log sent %d requests (%s); want the one listing", n, reqs)
	}
	h.restoreEvery(t, "this machine", repo)
	repo.Close()

	// A snapshot's listing of exactly the copy's key files restarts the
	// copy's clock: a machine that snapshots more often than
	// RecheckInterval never reads them again.
	t.Setenv("CAIRN_CATCHUP_INTERVAL", "1000h") // the other writers' catch-up is not what this counts
	start := time.Now()
	for i, at := range []time.Duration{cairn.RecheckInterval * 9 / 10, cairn.RecheckInterval * 18 / 10} {
		o := opts
		o.Now = func() time.Time { return start.Add(at) }
		rc.take()
		repo, err := cairn.Open(ctx, loc, o)
		if err != nil {
			t.Fatal(err)
		}
		if reqs, n := rc.take(); n != 0 {
			t.Errorf("open %v after the copy was read (snapshot %d since): %d requests (%s); want none", at, i, n, reqs)
		}
		if _, err := repo.Snapshot(ctx, h.src, cairn.SnapshotOptions{}); err != nil {
			t.Fatal(err)
		}
		repo.Close()
	}
	cairn.SetS3TransportForTest(nil)

	// Each is restorable from a machine that has only the bucket.
	newMachine(t)
	repo, err = cairn.Open(ctx, loc, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	h.restoreEvery(t, "new machine", repo)
}

// TestRemoteKeyCopyBound: the copy of the key files that spares Open its
// requests delays a key removed on another host by at most
// RecheckInterval, and never delays a password added or changed there.
func TestRemoteKeyCopyBound(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Versity(t)
	cacheA := remoteEnv(t, srv)
	loc := "s3://" + srv.Bucket + "/" + s3test.Prefix() + "/keys"
	pw1 := cairn.Options{Password: []byte("first password"), S3Endpoint: srv.Endpoint}
	pw2, pw3 := pw1, pw1
	pw2.Password, pw3.Password = []byte("second password"), []byte("third password")
	create := pw1
	create.Create = true
	h := &history{src: filepath.Join(t.TempDir(), "src")}
	writeTree(t, h.src, 1)
	open := func(o cairn.Options) (*cairn.Repo, int, string, error) {
		t.Helper()
		rc := countRequests(t)
		repo, err := cairn.Open(ctx, loc, o)
		reqs, n := rc.take()
		cairn.SetS3TransportForTest(nil)
		return repo, n, reqs, err
	}
	repo, _, _, err := open(create)
	if err != nil {
		t.Fatal(err)
	}
	h.snap(t, repo)
	_, err = repo.AddKey(ctx, cairn.NewKey{Password: pw2.Password})
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	// A's copy now holds both key files (AddKey dropped the old copy).
	repo, n, reqs, err := open(pw1)
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	if n == 0 {
		t.Errorf("open after AddKey sent no request; want the key files read again")
	}
	if repo, n, reqs, err = open(pw1); err != nil || n != 0 {
		t.Fatalf("open from the copy: %v, %d requests (%s); want none", err, n, reqs)
	}
	repo.Close()

	// Host B removes the first password's key file.
	removeOthersKeys(t, loc, pw2)

	// On A, within RecheckInterval the removed password still opens (the
	// bound); past it, it does not.
	t.Setenv("XDG_CACHE_HOME", cacheA)
	if repo, n, reqs, err = open(pw1); err != nil || n != 0 {
		t.Fatalf("open within the bound with the removed password: %v, %d requests (%s); want it to open from the copy", err, n, reqs)
	}
	repo.Close()
	later := pw1
	later.Now = func() time.Time { return time.Now().Add(cairn.RecheckInterval + time.Second) }
	if _, _, _, err = open(later); !errors.Is(err, cairn.ErrWrongPassword) {
		t.Fatalf("open past the bound with the removed password: %v; want ErrWrongPassword", err)
	}
	t.Setenv("CAIRN_RECHECK_INTERVAL", "0s")
	if _, _, _, err = open(pw1); !errors.Is(err, cairn.ErrWrongPassword) {
		t.Fatalf("open with CAIRN_RECHECK_INTERVAL=0s and the removed password: %v; want ErrWrongPassword", err)
	}
	t.Setenv("CAIRN_RECHECK_INTERVAL", "")
	// Within the bound it opens, but writes nothing: the key file is
	// missing from the listing of keys/ before the first record, and the
	// copy is dropped, so the next Open fails at once. (A snapshot's
	// listing of gc/ covers keys/ for free: TestRemoteMadeAnew.)
	if repo, _, _, err = open(pw1); err != nil {
		t.Fatal(err)
	}
	// A command that writes a record without listing gc/ (tag) lists
	// keys/ before its first record.
	if _, err := repo.Tag(ctx, []int64{h.ids[0]}, cairn.TagChange{Add: []string{"x"}}); !errors.Is(err, cairn.ErrKeyGone) {
		t.Fatalf("tag opened from the copy with a removed key file: %v; want ErrKeyGone", err)
	}
	repo.Close()
	if _, _, _, err = open(pw1); !errors.Is(err, cairn.ErrWrongPassword) {
		t.Fatalf("open after the tag found the key file gone: %v; want ErrWrongPassword", err)
	}

	// B changes the second password to a third: A, whose copy does not
	// know the third, opens with it at once (the bucket is read when the
	// copy opens nothing), and no longer with the second past the bound.
	t.Setenv("XDG_CACHE_HOME", cacheA)
	if repo, _, _, err = open(pw2); err != nil {
		t.Fatal(err)
	}
	repo.Close()
	newMachine(t)
	b, _, _, err := open(pw2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ChangePassword(ctx, pw3.Password); err != nil {
		t.Fatal(err)
	}
	b.Close()
	t.Setenv("XDG_CACHE_HOME", cacheA)
	if repo, n, reqs, err = open(pw3); err != nil {
		t.Fatalf("open with the password changed on another host: %v", err)
	}
	t.Logf("open with a password the copy does not know: %d requests (%s)", n, reqs)
	h.restoreEvery(t, "after the password changed", repo)
	repo.Close()
	if _, _, _, err = open(pw2); !errors.Is(err, cairn.ErrWrongPassword) {
		t.Fatalf("open with the changed password after the copy was read again: %v; want ErrWrongPassword", err)
	}
}

// helperSnapEnv makes the test binary a snapshot process for
// TestRemoteKilledAfterAppend (TestRemoteSnapHelper).
const helperSnapEnv = "CAIRN_TEST_HELPER_SNAP"

func TestRemoteSnapHelper(t *testing.T) {
	spec := os.Getenv(helperSnapEnv)
	if spec == "" {
		t.Skip("a helper process of TestRemoteKilledAfterAppend")
	}
	loc, src, _ := strings.Cut(spec, "\n")
	repo, err := cairn.Open(context.Background(), loc, cairn.Options{Password: []byte("correct horse"), CatchUp: cairn.CatchUpDue})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Snapshot(context.Background(), src, cairn.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	repo.Close()
}

// TestRemoteKilledAfterAppend: a snapshot process killed right after its
// record is in the bucket, before its catalog applied it, leaves a mark
// in the cache, so that the next Open, which otherwise does not read the
// log, applies the record: the snapshot is not lost, and the next
// snapshot does not collide with its seq.
// remoteWithSnapshot makes a password-protected repository at name in a
// fresh prefix of a versitygw bucket (the process's environment set for
// it) and takes one snapshot of a one-file tree: its location, the
// options that open it, and the history of that tree, closed.
func remoteWithSnapshot(t *testing.T, name string) (loc string, opts cairn.Options, h *history) {
	t.Helper()
	r := newRemote(t, name, cairn.Options{Password: []byte("correct horse")})
	return r.loc, r.opts, r.h
}

// remote is a repository in a bucket of its own versitygw, made by newRemote
// with one snapshot of a small tree.
type remote struct {
	srv    *s3test.Server
	cache  string // $XDG_CACHE_HOME of this "machine"
	prefix string // the repository's prefix in srv.Bucket
	loc    string // s3://bucket/prefix
	opts   cairn.Options
	h      *history
}

// newRemote starts a server and makes a repository opened with opts (a
// password or a key file; the endpoint and CatchUpDue are filled in).
func newRemote(t *testing.T, name string, opts cairn.Options) *remote {
	t.Helper()
	r := &remote{srv: s3test.Versity(t)}
	r.cache = remoteEnv(t, r.srv)
	t.Setenv("CAIRN_S3_ENDPOINT", r.srv.Endpoint) // for helper processes too
	r.prefix = s3test.Prefix() + "/" + name
	r.loc = "s3://" + r.srv.Bucket + "/" + r.prefix
	opts.S3Endpoint, opts.CatchUp = r.srv.Endpoint, cairn.CatchUpDue
	r.opts = opts
	create := opts
	create.Create = true
	r.h = &history{src: filepath.Join(t.TempDir(), "src")}
	writeTree(t, r.h.src, 1)
	repo, err := cairn.Open(context.Background(), r.loc, create)
	if err != nil {
		t.Fatal(err)
	}
	r.h.snap(t, repo)
	if err := repo.Close(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRemoteKilledAfterAppend(t *testing.T) {
	ctx := context.Background()
	loc, pw, h := remoteWithSnapshot(t, "killed")
	repo, err := cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	local := repo.LocalDir()
	repo.Close()

	h.change(t, 1)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRemoteSnapHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperSnapEnv+"="+loc+"\n"+h.src, "CAIRN_CRASHTEST_KILL_AFTER_APPEND=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("snapshot process: %v, want it killed after its append; output:\n%s", err, out)
	}
	marks, _ := os.ReadDir(filepath.Join(local, "appending"))
	if len(marks) == 0 {
		t.Error("the killed snapshot left no mark of its record")
	}
	h.ids, h.states = append(h.ids, 0), append(h.states, takeManifest(t, h.src))

	var said []string
	notify := pw
	notify.Notify = func(msg string) { said = append(said, msg) }
	repo, err = cairn.Open(ctx, loc, notify)
	if err != nil {
		t.Fatal(err)
	}
	if len(said) != 1 || !strings.Contains(said[0], "applied 1 record") {
		t.Errorf("open after the kill said %q; want that it applied the record", said)
	}
	snaps, err := repo.Snapshots(ctx, cairn.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots after the kill, want 2 (the killed process's record applied)", len(snaps))
	}
	h.ids[1] = snaps[1].ID
	h.change(t, 2)
	h.snap(t, repo)
	repo.Close()
	if marks, _ := os.ReadDir(filepath.Join(local, "appending")); len(marks) != 1 {
		t.Errorf("marks left after the records were applied: %v; want the newest only", marks)
	}
	rc := countRequests(t)
	repo, err = cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if reqs, n := rc.take(); n != 0 {
		t.Errorf("open after the marks were cleared sent %d requests (%s); want none", n, reqs)
	}
	h.restoreEvery(t, "after the kill", repo)
}

// TestRemoteCatalogPutBack: catalog.db of a repository in a bucket put
// back from an older copy, with no mark (the records it lacks were
// applied by the catalog that was replaced). Open, which no longer reads
// the log unless a mark says so, still finds the snapshot the copy
// lacks before the next snapshot is written, and that snapshot commits.
func TestRemoteCatalogPutBack(t *testing.T) {
	ctx := context.Background()
	loc, pw, h := remoteWithSnapshot(t, "putback")
	repo, err := cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	cat := repo.CatalogPath()
	repo.Close()
	old, err := os.ReadFile(cat)
	if err != nil {
		t.Fatal(err)
	}
	if repo, err = cairn.Open(ctx, loc, pw); err != nil {
		t.Fatal(err)
	}
	h.change(t, 1)
	h.snap(t, repo)
	repo.Close()
	for _, s := range []string{"-wal", "-shm"} {
		os.Remove(cat + s)
	}
	if err := os.WriteFile(cat, old, 0o600); err != nil {
		t.Fatal(err)
	}

	if repo, err = cairn.Open(ctx, loc, pw); err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	h.change(t, 2)
	if _, err := repo.Snapshot(ctx, h.src, cairn.SnapshotOptions{}); err != nil {
		t.Fatalf("snapshot with the catalog put back: %v", err)
	}
	snaps, err := repo.Snapshots(ctx, cairn.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 3 {
		t.Errorf("%d snapshots after the put-back catalog's snapshot, want 3", len(snaps))
	}
}

// TestRemoteMadeAnew: the repository deleted and made anew under the same
// prefix by another host, within RecheckInterval of this machine's last
// read of the bucket. Opening from the copy still works (it reads what
// this machine has), but nothing is written into the new repository
// with the old keys (records no writer of it could read): the
// snapshot's listing misses the old key file, and the next Open reads
// the bucket and joins the new repository. cairn init's Open (Recheck)
// never takes the emptied prefix for a repository.
func TestRemoteMadeAnew(t *testing.T) {
	ctx := context.Background()
	r := newRemote(t, "anew", cairn.Options{Password: []byte("correct horse")})
	srv, cacheA, prefix, loc, pw, h := r.srv, r.cache, r.prefix, r.loc, r.opts, r.h
	create := pw
	create.Create = true
	repo, err := cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	oldID := filepath.Base(repo.LocalDir())
	repo.Close()

	st, _ := openS3Store(t, srv, prefix)
	var objs []string
	if err := st.ListObjects(ctx, "", func(key string, _ int64) error { objs = append(objs, key); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, k := range objs {
		if err := st.DeleteObject(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	var packs []string
	st.List(ctx, func(name string, _ int64) error { packs = append(packs, name); return nil })
	for _, p := range packs {
		if err := st.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	recheck := pw
	recheck.Recheck = true
	if _, err := cairn.Open(ctx, loc, recheck); !errors.Is(err, cairn.ErrNoRepository) {
		t.Fatalf("open with Recheck of the emptied prefix: %v; want ErrNoRepository", err)
	}

	newMachine(t)
	b, err := cairn.Open(ctx, loc, create)
	if err != nil {
		t.Fatal(err)
	}
	hb := &history{src: filepath.Join(t.TempDir(), "b")}
	writeTree(t, hb.src, 2)
	hb.snap(t, b)
	b.Close()

	t.Setenv("XDG_CACHE_HOME", cacheA)
	repo, err = cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatalf("open from the copy: %v", err)
	}
	h.change(t, 1)
	if _, err := repo.Snapshot(ctx, h.src, cairn.SnapshotOptions{}); !errors.Is(err, cairn.ErrKeyGone) {
		t.Fatalf("snapshot into the repository made anew: %v; want ErrKeyGone", err)
	}
	repo.Close()
	ws := map[string]bool{}
	st.ListObjects(ctx, "log/", func(key string, _ int64) error { ws[strings.Split(key, "/")[1]] = true; return nil })
	if len(ws) != 1 {
		t.Errorf("the new repository has the logs of %d writers, want 1 (the old keys wrote into it)", len(ws))
	}

	repo, err = cairn.Open(ctx, loc, pw)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if id := filepath.Base(repo.LocalDir()); id == oldID {
		t.Errorf("open after the failed snapshot still uses the old repository's cache %s", id)
	}
	h.ids, h.states = nil, nil
	h.snap(t, repo)
	h.restoreEvery(t, "in the new repository", repo)
}
