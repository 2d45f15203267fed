package cairn_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/metalog"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/retention"
	"github.com/cairn-dev/cairn/snapshot"
)

// replicatedTables are the catalog tables the log carries (catalog's
// checkpointTables): a catalog rebuilt from the log must hold exactly
// these rows. hold is local but for the holds warnings place.
var replicatedTables = []struct{ name, where, order string }{
	{"meta", "", "key"},
	{"source", "", "rowid"},
	{"snapshot", "", "rowid"},
	{"pack", "", "rowid"},
	{"chunk", "", "rowid"},
	{"content", "", "rowid"},
	{"version", "", "rowid"},
	{"warning", "", "rowid"},
	{"hold", "holder IS NULL", "rowid"},
}

// TestLogRebuildProperty drives random sequences of snap, forget, policy,
// tag, gc, repack (merging small packs) and crash through the real Repo
// API, then rebuilds the catalog from the log and compares it with the
// live one, table by table and row for row, and restores every snapshot.
// A crash is a catalog put back as it was some steps earlier (every record
// since written but not applied: the next Open replays them) or deleted
// (the next Open rebuilds it). Checkpoints are made frequent so that
// rebuilds start from one and gc prunes records.
func TestLogRebuildProperty(t *testing.T) {
	defer func(r, b int64) { metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint = r, b }(metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint)
	metalog.RecordsPerCheckpoint = 7
	runs, steps := 4, 40
	if testing.Short() {
		runs, steps = 1, 25
	}
	seed := testSeed(t)
	for run := range runs {
		t.Run(fmt.Sprint("seed", seed+uint64(run)), func(t *testing.T) {
			propertyRun(t, seed+uint64(run), steps)
		})
	}
}

type propertyEnv struct {
	t       *testing.T
	rng     *rand.Rand
	base    string
	dir     string
	srcs    []string
	clock   time.Time
	notices []string
	repo    *cairn.Repo
	// taken: the tree each snapshot saw, by id.
	taken map[int64]manifest
}

func (e *propertyEnv) open() {
	e.t.Helper()
	repo, err := cairn.Open(e.t.Context(), e.dir, cairn.Options{
		Create: true,
		Now:    func() time.Time { return e.clock },
		Notify: func(msg string) { e.notices = append(e.notices, msg) },
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.repo = repo
}

func (e *propertyEnv) close() {
	e.t.Helper()
	if err := e.repo.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// mutate changes a few files of a source: new, rewritten, removed.
func (e *propertyEnv) mutate(src string) {
	for range 1 + e.rng.IntN(4) {
		name := filepath.Join(src, fmt.Sprintf("d%d", e.rng.IntN(3)), fmt.Sprintf("f%d.txt", e.rng.IntN(8)))
		if e.rng.IntN(5) == 0 {
			os.Remove(name)
			continue
		}
		os.MkdirAll(filepath.Dir(name), 0o755)
		data := []byte(strings.Repeat(fmt.Sprintf("%x ", e.rng.Uint64()), 1+e.rng.IntN(400)))
		if err := os.WriteFile(name, data, 0o644); err != nil {
			e.t.Fatal(err)
		}
		old := e.clock.Add(-time.Hour)
		os.Chtimes(name, old, old)
	}
}

func (e *propertyEnv) snapshotIDs() []int64 {
	e.t.Helper()
	snaps, err := e.repo.Snapshots(e.t.Context(), cairn.SnapshotFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []int64
	for _, s := range snaps {
		ids = append(ids, s.ID)
	}
	return ids
}

func propertyRun(t *testing.T, seed uint64, steps int) {
	ctx := t.Context()
	base := canonicalTempDir(t)
	e := &propertyEnv{t: t, rng: rand.New(rand.NewPCG(seed, 11)), base: base, dir: filepath.Join(base, "repo"),
		clock: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), taken: map[int64]manifest{}}
	for i := range 2 {
		src := filepath.Join(base, fmt.Sprint("src", i))
		os.MkdirAll(src, 0o755)
		e.srcs = append(e.srcs, src)
		e.mutate(src)
	}
	e.open()
	var stale []byte // a catalog as it was some steps ago
	var ops []string
	for step := range steps {
		e.clock = e.clock.Add(time.Duration(1+e.rng.IntN(180)) * time.Minute)
		op := e.rng.IntN(12)
		var what string
		switch {
		case op < 5:
			src := e.srcs[e.rng.IntN(len(e.srcs))]
			e.mutate(src)
			m := takeManifest(t, src)
			res, err := e.repo.Snapshot(ctx, src, snapshot.Options{})
			if err != nil {
				t.Fatalf("step %d: snap: %v", step, err)
			}
			e.taken[res.ID] = m
			what = fmt.Sprintf("snap %d", res.ID)
		case op == 5:
			ids := e.snapshotIDs()
			if len(ids) == 0 {
				continue
			}
			id := ids[e.rng.IntN(len(ids))]
			if _, err := e.repo.Forget(ctx, cairn.ForgetOptions{IDs: []int64{id}}); err != nil {
				t.Fatalf("step %d: forget %d: %v", step, id, err)
			}
			what = fmt.Sprintf("forget %d", id)
		case op == 6:
			p := retention.Default
			p.Last = 1 + e.rng.IntN(6)
			src := e.srcs[e.rng.IntN(len(e.srcs))]
			if _, err := os.Stat(src); err != nil {
				continue
			}
			if err := e.repo.SetPolicy(ctx, src, p); err != nil {
				if strings.Contains(err.Error(), "no source") || strings.Contains(err.Error(), "not a source") {
					continue
				}
				t.Fatalf("step %d: policy: %v", step, err)
			}
			what = fmt.Sprintf("policy keep-last %d", p.Last)
		case op == 7:
			ids := e.snapshotIDs()
			if len(ids) == 0 {
				continue
			}
			id := ids[e.rng.IntN(len(ids))]
			if _, err := e.repo.Tag(ctx, []int64{id}, cairn.TagChange{Add: []string{fmt.Sprint("t", e.rng.IntN(3))}}); err != nil {
				t.Fatalf("step %d: tag: %v", step, err)
			}
			what = fmt.Sprintf("tag %d", id)
		case op == 8:
			if _, err := e.repo.GC(ctx, cairn.GCOptions{}); err != nil {
				t.Fatalf("step %d: gc: %v", step, err)
			}
			what = "gc"
		case op == 9:
			// Repack: merge every small pack and repack any with dead bytes.
			if _, err := e.repo.GC(ctx, cairn.GCOptions{MaxUnused: 0.001, PackTarget: gc.DefaultPackTarget}); err != nil {
				t.Fatalf("step %d: gc (repack): %v", step, err)
			}
			what = "repack"
		case op == 10:
			// Remember the catalog as it is now; a later crash puts it back.
			if err := e.repo.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(e.repo.CatalogPath())
			if err != nil {
				t.Fatal(err)
			}
			stale = b
			what = "save catalog"
		default:
			path := e.repo.CatalogPath()
			e.close()
			removeCatalog(t, path)
			if stale != nil && e.rng.IntN(3) > 0 {
				if err := os.WriteFile(path, stale, 0o600); err != nil {
					t.Fatal(err)
				}
				what = "crash: catalog behind the log"
			} else {
				what = "crash: catalog lost"
			}
			e.notices = nil
			e.open()
			if len(e.notices) == 0 && what == "crash: catalog lost" {
				t.Fatalf("step %d: %s: Open said nothing", step, what)
			}
		}
		ops = append(ops, what)
	}
	t.Logf("%d steps: %s", len(ops), strings.Join(ops, ", "))
	rep, err := e.repo.Check(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("check of the live repository: %v", rep.Problems)
	}
	live := e.snapshotIDs()
	e.close()

	// Rebuild from checkpoint + log; the live catalog moves aside.
	rb, err := cairn.RepairCatalog(ctx, e.dir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuilt from checkpoint %d up to record %d: %d snapshots", rb.Checkpoint, rb.Applied, rb.Snapshots)
	compareCatalogs(t, rb.Aside, filepath.Join(e.dir, "local", "catalog.db"))

	e.open()
	defer e.close()
	if got := e.snapshotIDs(); !slices.Equal(got, live) {
		t.Fatalf("rebuilt catalog has snapshots %v, want %v", got, live)
	}
	for _, id := range live {
		want, ok := e.taken[id]
		if !ok {
			continue
		}
		s, err := e.repo.SnapshotByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		req, _, err := e.repo.Resolve(ctx, s.Source, id, false)
		if err != nil {
			t.Fatalf("resolve snapshot %d: %v", id, err)
		}
		to := filepath.Join(base, fmt.Sprint("restored-", id))
		if _, err := e.repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
			t.Fatalf("restore snapshot %d: %v", id, err)
		}
		compareTrees(t, fmt.Sprintf("snapshot %d restored from the rebuilt catalog", id), want, takeManifest(t, to))
	}
}

func removeCatalog(t *testing.T, path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

// compareCatalogs compares every replicated table of two catalog files,
// row for row, reading them with plain SQL (not the catalog's own dump).
func compareCatalogs(t *testing.T, wantPath, gotPath string) {
	t.Helper()
	open := func(p string) *sql.DB {
		db, err := sql.Open("sqlite3", "file:"+p+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	want, got := open(wantPath), open(gotPath)
	for _, tb := range replicatedTables {
		q := "SELECT * FROM " + tb.name
		if tb.where != "" {
			q += " WHERE " + tb.where
		}
		q += " ORDER BY " + tb.order
		w, g := tableRows(t, want, q), tableRows(t, got, q)
		if tb.name == "meta" {
			// created: stamped when the catalog file was made (the
			// repository's own creation time is in cairn.repo).
			w, g = dropKey(w, "created"), dropKey(g, "created")
		}
		if !reflect.DeepEqual(w, g) {
			for i := range max(len(w), len(g)) {
				var a, b []any
				if i < len(w) {
					a = w[i]
				}
				if i < len(g) {
					b = g[i]
				}
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("table %s differs at row %d (%d rows live, %d rebuilt):\nlive    %v\nrebuilt %v", tb.name, i, len(w), len(g), a, b)
				}
			}
		}
		t.Logf("table %s: %d rows equal", tb.name, len(w))
	}
}

func dropKey(rows [][]any, key string) [][]any {
	var out [][]any
	for _, r := range rows {
		if fmt.Sprint(r[0]) != key {
			out = append(out, r)
		}
	}
	return out
}

func tableRows(t *testing.T, db *sql.DB, q string) [][]any {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCheckpointsAndGCPruneTheLog: snapshots write checkpoints as records
// accumulate (in one open repository, as cairn watch keeps it), and gc
// removes what the newest two supersede; a rebuild then starts from the
// newest checkpoint and equals the live catalog.
func TestCheckpointsAndGCPruneTheLog(t *testing.T) {
	defer func(r int64) { metalog.RecordsPerCheckpoint = r }(metalog.RecordsPerCheckpoint)
	metalog.RecordsPerCheckpoint = 4
	ctx := t.Context()
	base := canonicalTempDir(t)
	e := &propertyEnv{t: t, rng: rand.New(rand.NewPCG(3, 4)), base: base, dir: filepath.Join(base, "repo"),
		clock: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), taken: map[int64]manifest{}}
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	e.open()
	for range 15 {
		e.clock = e.clock.Add(time.Hour)
		e.mutate(src)
		if _, err := e.repo.Snapshot(ctx, src, snapshot.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(dir string) int {
		m, _ := filepath.Glob(filepath.Join(e.dir, dir, "*", "*"))
		return len(m)
	}
	cps, recs := count("checkpoints"), count("log")
	if cps < 3 {
		t.Fatalf("%d checkpoints after 15 snapshots with a checkpoint every 4 records", cps)
	}
	if _, err := e.repo.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := count("checkpoints"); got != 2 {
		t.Fatalf("gc left %d checkpoints, want the newest 2", got)
	}
	if got := count("log"); got >= recs || got > 2*4+2 {
		t.Fatalf("gc left %d of %d records", got, recs)
	}
	if rep, err := e.repo.Check(ctx, false); err != nil || !rep.OK() {
		t.Fatalf("check after gc pruned the log: %v %v", rep, err)
	}
	e.close()
	rb, err := cairn.RepairCatalog(ctx, e.dir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Checkpoint == 0 {
		t.Fatal("the rebuild did not start from a checkpoint")
	}
	compareCatalogs(t, rb.Aside, filepath.Join(e.dir, "local", "catalog.db"))
}
