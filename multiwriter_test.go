package cairn_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/internal/s3test"
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
	testTwoHosts(t, loc, alpha, beta, gamma)
}

func testTwoHosts(t *testing.T, loc string, alpha, beta *installation, newGamma func() *installation) {
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
	if _, err := g.Adopt(ctx, "alpha"); err != nil {
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
