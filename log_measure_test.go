package cairn_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/snapshot"
)

// TestMeasureLog measures what the log costs, on a tree shaped like the
// benchmark's agent-state corpus (20,000 small text files in 200
// directories): the log bytes and wall time of an unchanged snapshot, and
// the time to rebuild the catalog of a repository with 200 snapshots. It
// runs only with CAIRN_MEASURE_LOG=1 (about a minute on 2 cores);
// CAIRN_MEASURE_DIR keeps the tree and repository there, for comparing
// binaries on the same tree.
func TestMeasureLog(t *testing.T) {
	if os.Getenv("CAIRN_MEASURE_LOG") == "" {
		t.Skip("set CAIRN_MEASURE_LOG=1 to measure the log")
	}
	ctx := t.Context()
	base := os.Getenv("CAIRN_MEASURE_DIR")
	if base == "" {
		base = canonicalTempDir(t)
	}
	src, dir := filepath.Join(base, "agent"), filepath.Join(base, "repo")
	os.RemoveAll(dir)
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(i int) {
		name := filepath.Join(src, fmt.Sprintf("d%03d", i%200), fmt.Sprintf("f%05d.json", i))
		os.MkdirAll(filepath.Dir(name), 0o755)
		body := fmt.Sprintf(`{"id": %d, "text": %q}`, i, strings.Repeat(fmt.Sprintf("%x ", rng.Uint64()), 10+rng.IntN(400)))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(name, old, old)
	}
	if _, err := os.Stat(src); err != nil {
		for i := range 20000 {
			write(i)
		}
	}
	repo, err := cairn.Open(ctx, dir, cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { repo.Close() }()
	logBytes := func() int64 {
		var n int64
		filepath.Walk(filepath.Join(dir, "log"), func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				n += fi.Size()
			}
			return nil
		})
		return n
	}
	start := time.Now()
	if _, err := repo.Snapshot(ctx, src, snapshot.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("first snapshot: %v, log %d B", time.Since(start).Round(time.Millisecond), logBytes())
	var walls []time.Duration
	for range 7 {
		before := logBytes()
		start := time.Now()
		if _, err := repo.Snapshot(ctx, src, snapshot.Options{}); err != nil {
			t.Fatal(err)
		}
		walls = append(walls, time.Since(start))
		t.Logf("unchanged snapshot: %v, log +%d B", walls[len(walls)-1].Round(time.Millisecond), logBytes()-before)
	}
	slices.Sort(walls)
	t.Logf("unchanged snapshot (API): median %v of %d", walls[len(walls)/2].Round(time.Millisecond), len(walls))
	snaps, _ := repo.Snapshots(ctx, cairn.SnapshotFilter{})
	for i := len(snaps); i < 200; i++ {
		for range 20 {
			write(rng.IntN(20000))
		}
		if _, err := repo.Snapshot(ctx, src, snapshot.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	snaps, _ = repo.Snapshots(ctx, cairn.SnapshotFilter{})
	repo.Close()
	cps, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*", "*"))
	recs, _ := filepath.Glob(filepath.Join(dir, "log", "*", "*"))
	t.Logf("%d snapshots kept (default retention), %d records, %d checkpoints, log %d B", len(snaps), len(recs), len(cps), logBytes())
	for _, withCheckpoint := range []bool{true, false} {
		if !withCheckpoint {
			for _, c := range cps {
				os.Rename(c, c+".off")
			}
			defer func() {
				for _, c := range cps {
					os.Rename(c+".off", c)
				}
			}()
		}
		start = time.Now()
		rb, err := cairn.RepairCatalog(ctx, dir, cairn.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rebuild (checkpoints %v): %v: from checkpoint %d up to record %d, %d snapshots", withCheckpoint, time.Since(start).Round(time.Millisecond), rb.Checkpoint, rb.Applied, rb.Snapshots)
		os.Remove(rb.Aside)
	}
	repo, err = cairn.Open(ctx, dir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
}
