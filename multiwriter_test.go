package cairn_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/internal/s3test"
	"github.com/cairn-dev/cairn/metalog"
	"github.com/cairn-dev/cairn/restore"
)

// installation is one host sharing a repository: its own local directory
// (a directory repository) or cache (a bucket), and its host name.
type installation struct {
	host string
	opts cairn.Options
	env  func(t *testing.T) // points the process at this host
}

func (in *installation) open(t *testing.T, loc string) *cairn.Repo {
	t.Helper()
	in.env(t)
	repo, err := cairn.Open(context.Background(), loc, in.opts)
	if err != nil {
		t.Fatalf("%s: open %s: %v", in.host, loc, err)
	}
	return repo
}

func dirInstallation(t *testing.T, host string, base cairn.Options) *installation {
	opts := base
	opts.LocalDir = filepath.Join(t.TempDir(), host+"-local")
	opts.CatchUp = cairn.CatchUpAlways
	return &installation{host: host, opts: opts, env: func(t *testing.T) { t.Setenv("CAIRN_HOST", host) }}
}

func bucketInstallation(t *testing.T, host string, base cairn.Options) *installation {
	cache := t.TempDir()
	opts := base
	opts.CatchUp = cairn.CatchUpAlways
	return &installation{host: host, opts: opts, env: func(t *testing.T) {
		t.Setenv("CAIRN_HOST", host)
		t.Setenv("XDG_CACHE_HOME", cache)
	}}
}

// TestTwoHostsDirectory: two installations share one directory repository.
func TestTwoHostsDirectory(t *testing.T) {
	loc := filepath.Join(t.TempDir(), "repo")
	base := cairn.Options{Password: []byte("correct horse")}
	create := base
	create.Create = true
	alpha := dirInstallation(t, "alpha", create)
	beta := dirInstallation(t, "beta", base)
	gamma := func() *installation { return dirInstallation(t, "gamma", base) }
	testTwoHosts(t, loc, alpha, beta, gamma)
}

// TestTwoHostsBucket: two installations (two caches) share one bucket.
func TestTwoHostsBucket(t *testing.T) {
	srv := s3test.Versity(t)
	remoteEnv(t, srv)
	loc := "s3://" + srv.Bucket + "/" + s3test.Prefix() + "/shared"
	base := cairn.Options{Password: []byte("correct horse"), S3Endpoint: srv.Endpoint}
	create := base
	create.Create = true
	alpha := bucketInstallation(t, "alpha", create)
	beta := bucketInstallation(t, "beta", base)
	gamma := func() *installation { return bucketInstallation(t, "gamma", base) }
	hb := testTwoHosts(t, loc, alpha, beta, gamma)

	// An unchanged snapshot of a host of a shared bucket, opened as cairn
	// snap opens (CatchUpDue): within CatchUpInterval of its last
	// catch-up, the requests of a single host's (TestRemotePrimary); when
	// one is due, Open lists the writers and reads each one's next record.
	ctx := context.Background()
	for _, due := range []bool{false, true} {
		beta.env(t)
		opts := beta.opts
		opts.CatchUp = cairn.CatchUpDue
		if due {
			t.Setenv("CAIRN_CATCHUP_INTERVAL", "0s")
		}
		rc := countRequests(t)
		repo, err := cairn.Open(ctx, loc, opts)
		if err != nil {
			t.Fatal(err)
		}
		openReqs, openN := rc.take()
		res, err := repo.Snapshot(ctx, hb.src, cairn.SnapshotOptions{})
		if err != nil {
			t.Fatal(err)
		}
		snapReqs, snapN := rc.take()
		repo.Close()
		t.Setenv("CAIRN_CATCHUP_INTERVAL", "")
		t.Logf("unchanged snapshot, two writers, catch-up due %v: open %d requests (%s), snapshot %d (%s), %d bytes added",
			due, openN, openReqs, snapN, snapReqs, res.BytesAdded)
		if snapN > 2 || res.BytesAdded != 0 {
			t.Errorf("unchanged snapshot sent %d requests (%s), added %d bytes; want at most 2 and none", snapN, snapReqs, res.BytesAdded)
		}
		if !due && openN > 5 {
			t.Errorf("open of a host not due to catch up sent %d requests (%s); want at most 5, as a single host's", openN, openReqs)
		}
	}
}

// testTwoHosts returns beta's history.
func testTwoHosts(t *testing.T, loc string, alpha, beta *installation, newGamma func() *installation) *history {
	ctx := context.Background()
	// Both hosts back up a tree of the same name with the same bytes.
	ha := &history{src: filepath.Join(t.TempDir(), "a", "src")}
	writeTree(t, ha.src, 1)
	hb := &history{src: filepath.Join(t.TempDir(), "b", "src")}
	writeTree(t, hb.src, 1)

	a := alpha.open(t, loc)
	ha.snap(t, a)
	ha.change(t, 1)
	ha.snap(t, a)
	a.Close()

	// beta is a new writer: it reads alpha's log, sees and restores its
	// snapshots, and its first snapshot of the same bytes stores nothing.
	b := beta.open(t, loc)
	hosts, err := b.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || !hosts[0].Self || hosts[0].Name != "beta" || hosts[1].Name != "alpha" || hosts[1].Snapshots != 2 {
		t.Fatalf("beta's hosts: %+v", hosts)
	}
	if hosts[0].Writer == hosts[1].Writer {
		t.Fatal("beta took over alpha's log")
	}
	alphaIDs := hostIDs(t, b, "alpha", ha)
	restoreEach(t, "beta restores alpha's", b, ha, alphaIDs)
	res := hb.snap(t, b)
	if res.BytesAdded != 0 {
		t.Errorf("beta's first snapshot of alpha's bytes stored %d bytes; want 0 (dedup against alpha's packs)", res.BytesAdded)
	}
	if res.ID != 1 {
		t.Errorf("beta's first snapshot is %d, want 1 (its own numbering)", res.ID)
	}
	hb.change(t, 2)
	hb.snap(t, b)
	b.Close()

	// alpha sees beta's snapshots as beta:N and restores them.
	a = alpha.open(t, loc)
	restoreEach(t, "alpha restores beta's", a, hb, hostIDs(t, a, "beta", hb))
	if name := a.SnapshotName(ctx, ha.ids[0]); name != "1" {
		t.Errorf("alpha names its own first snapshot %q", name)
	}
	ha.change(t, 3)
	ha.snap(t, a)
	a.Close()

	// A third machine with the password alone gets every writer's
	// snapshots; then it adopts alpha (lost) and continues its history.
	gamma := newGamma()
	gamma.env(t)
	rep, err := cairn.RepairCatalog(ctx, loc, gamma.opts)
	if err != nil {
		t.Fatalf("recover on gamma: %v", err)
	}
	if want := len(ha.ids) + len(hb.ids); rep.Snapshots != want {
		t.Errorf("recover on gamma: %d snapshots, want %d", rep.Snapshots, want)
	}
	g := gamma.open(t, loc)
	restoreEach(t, "gamma restores alpha's", g, ha, hostIDs(t, g, "alpha", ha))
	restoreEach(t, "gamma restores beta's", g, hb, hostIDs(t, g, "beta", hb))
	if _, err := g.Adopt(ctx, "alpha", cairn.AdoptOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	hg := &history{src: ha.src} // the same path on the new machine
	res = hg.snap(t, g)
	if res.BytesAdded != 0 {
		t.Errorf("gamma's snapshot of alpha's unchanged tree stored %d bytes", res.BytesAdded)
	}
	if got := g.SnapshotName(ctx, res.ID); got != "alpha:4" {
		t.Errorf("gamma's snapshot continuing alpha's history is %q, want alpha:4", got)
	}
	snaps, err := g.Snapshots(ctx, cairn.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var last cairn.Snapshot
	for _, s := range snaps {
		if s.ID == res.ID {
			last = s
		}
	}
	if last.AddedBytes != 0 || last.FileCount == 0 {
		t.Errorf("the adopted history's new snapshot: %+v", last)
	}
	g.Close()

	// alpha comes back: its adopted sources are gamma's now.
	a = alpha.open(t, loc)
	if _, err := a.Snapshot(ctx, ha.src, cairn.SnapshotOptions{}); !errors.Is(err, cairn.ErrAdopted) {
		t.Errorf("alpha's snapshot after gamma adopted it: %v, want ErrAdopted", err)
	}
	a.Close()
	return hb
}

// hostIDs maps the local ids of a history taken on host to the ids the
// repo's catalog gives them (HOST:N).
func hostIDs(t *testing.T, repo *cairn.Repo, host string, h *history) []int64 {
	t.Helper()
	var out []int64
	for _, id := range h.ids {
		got, err := repo.HostSnapshotID(context.Background(), host, id)
		if err != nil {
			t.Fatalf("%s:%d: %v", host, id, err)
		}
		out = append(out, got)
	}
	snaps, err := repo.Snapshots(context.Background(), cairn.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range out {
		if !slices.ContainsFunc(snaps, func(s cairn.Snapshot) bool { return s.ID == id }) {
			t.Fatalf("snapshot %s is not in the catalog (%d snapshots)", repo.SnapshotName(context.Background(), id), len(snaps))
		}
	}
	return out
}

// restoreEach restores h's snapshots under the ids given and compares
// them byte for byte.
func restoreEach(t *testing.T, label string, repo *cairn.Repo, h *history, ids []int64) {
	t.Helper()
	ctx := context.Background()
	for i, id := range ids {
		req, _, err := repo.Resolve(ctx, h.src, id, false)
		if err != nil {
			t.Fatalf("%s: resolve snapshot %s: %v", label, repo.SnapshotName(ctx, id), err)
		}
		to := filepath.Join(t.TempDir(), "to")
		if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
			t.Fatalf("%s: restore snapshot %s: %v", label, repo.SnapshotName(ctx, id), err)
		}
		compareTrees(t, label+" "+repo.SnapshotName(ctx, id), h.states[i], takeManifest(t, to))
	}
}

// TestTwoHostsPrune: both hosts write checkpoints often and gc prunes
// their logs; a rebuild of either host's catalog, and a recover on a
// third machine, still give every host's snapshots, each restoring byte
// for byte.
func TestTwoHostsPrune(t *testing.T) {
	defer func(r, b int64) { metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint = r, b }(metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint)
	metalog.RecordsPerCheckpoint = 4
	ctx := context.Background()
	loc := filepath.Join(t.TempDir(), "repo")
	base := cairn.Options{Password: []byte("correct horse")}
	create := base
	create.Create = true
	hosts := []*installation{dirInstallation(t, "alpha", create), dirInstallation(t, "beta", base)}
	hs := []*history{{src: filepath.Join(t.TempDir(), "a", "src")}, {src: filepath.Join(t.TempDir(), "b", "src")}}
	for i, h := range hs {
		writeTree(t, h.src, uint64(i+1))
	}
	for round := range 14 {
		i := round % 2
		repo := hosts[i].open(t, loc)
		hs[i].change(t, round)
		hs[i].snap(t, repo)
		if round%5 == 4 {
			if _, err := repo.GC(ctx, cairn.GCOptions{}); err != nil {
				t.Fatalf("gc on %s: %v", hosts[i].host, err)
			}
		}
		if err := repo.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range hosts {
		repo := in.open(t, loc)
		if _, err := repo.GC(ctx, cairn.GCOptions{}); err != nil {
			t.Fatal(err)
		}
		repo.Close()
	}
	pruned := 0
	for _, in := range hosts {
		in.env(t)
		w, err := os.ReadFile(filepath.Join(in.opts.LocalDir, "writer"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(loc, "log", strings.TrimSpace(string(w)), fmt.Sprintf("%020d", 1))); errors.Is(err, fs.ErrNotExist) {
			pruned++
		}
	}
	if pruned == 0 {
		t.Fatal("no host's log was pruned: the test proves nothing")
	}
	check := func(label string, in *installation) {
		t.Helper()
		repo := in.open(t, loc)
		defer repo.Close()
		for i, h := range hs {
			restoreEach(t, label, repo, h, hostIDs(t, repo, hosts[i].host, h))
		}
	}
	// Each host's catalog rebuilt from its checkpoint and the logs.
	for _, in := range hosts {
		in.env(t)
		if _, err := cairn.RepairCatalog(ctx, loc, in.opts); err != nil {
			t.Fatalf("rebuild %s: %v", in.host, err)
		}
		check("rebuilt "+in.host, in)
	}
	// A third machine: no checkpoint of its own, both logs pruned.
	gamma := dirInstallation(t, "gamma", base)
	gamma.env(t)
	rep, err := cairn.RepairCatalog(ctx, loc, gamma.opts)
	if err != nil {
		t.Fatalf("recover on gamma: %v", err)
	}
	if rep.Snapshots != len(hs[0].ids)+len(hs[1].ids) {
		t.Errorf("recover on gamma: %d snapshots, want %d", rep.Snapshots, len(hs[0].ids)+len(hs[1].ids))
	}
	check("gamma", gamma)
}
