package cairn_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/retention"
	"github.com/cairn-dev/cairn/snapshot"
)

// TestRetentionCostOfFrequentSnapshots measures what the default policy
// costs when a snapshot is taken every 5 minutes for a week of a small tree
// (200 files, a quarter of the snapshots changing one file): how many
// snapshot rows it keeps and how big the catalog gets. It takes about a
// minute, so it runs only on request:
//
//	CAIRN_MEASURE=1 go test -run TestRetentionCostOfFrequentSnapshots -v .
func TestRetentionCostOfFrequentSnapshots(t *testing.T) {
	if testing.Short() || os.Getenv("CAIRN_MEASURE") == "" {
		t.Skip("a measurement; run with CAIRN_MEASURE=1")
	}
	ctx := context.Background()
	clock := time.Now().Add(time.Hour).Truncate(time.Hour)
	repo, err := cairn.Open(ctx, filepath.Join(t.TempDir(), "repo"), cairn.Options{Create: true, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()

	src := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	write := func(i int) {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", i%10))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"file":%d,"value":%d,"pad":"%0200d"}`, i, rng.IntN(1<<30), i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.json", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		write(i)
	}
	catalogSize := func() float64 {
		t.Helper()
		if err := repo.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		var size int64
		for _, name := range []string{repo.CatalogPath(), repo.CatalogPath() + "-wal"} {
			if fi, err := os.Stat(name); err == nil {
				size += fi.Size()
			}
		}
		return float64(size) / 1024
	}
	const week = 7 * 24 * 12 // snapshots, one every 5 minutes
	changed, maxKept, firstSize := 0, 0, 0.0
	start := time.Now()
	for n := range week {
		if n > 0 && rng.IntN(4) == 0 {
			write(rng.IntN(200))
			changed++
		}
		if _, err := repo.Snapshot(ctx, src, snapshot.Options{}); err != nil {
			t.Fatalf("snapshot %d: %v", n+1, err)
		}
		clock = clock.Add(5 * time.Minute)
		if n == 0 {
			firstSize = catalogSize()
		}
		if n%100 == 0 || n == week-1 {
			snaps, err := repo.Snapshots(ctx, cairn.SnapshotFilter{})
			if err != nil {
				t.Fatal(err)
			}
			maxKept = max(maxKept, len(snaps))
		}
	}
	elapsed := time.Since(start)
	size := catalogSize()
	count := func(q string) int {
		var n int
		if err := cairn.CatalogForTest(repo).Reader().QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	snaps := count("SELECT count(*) FROM snapshot")
	within := count(fmt.Sprintf("SELECT count(*) FROM snapshot WHERE started_ns > %d", clock.Add(-5*time.Minute-24*time.Hour).UnixNano()))
	t.Logf("default policy (%s), %d snapshots 5 minutes apart over a week, %d of them changed one of 200 files:", retention.Default, week, changed)
	t.Logf("kept %d snapshot rows (%d from the last 24 hours, at most %d at any time), %d distinct states kept, %d version rows, %d warning rows; catalog %.1f KiB (%.1f KiB after the first snapshot); %.1f ms per snapshot including retention",
		snaps, within, maxKept, count("SELECT count(DISTINCT state_id) FROM snapshot"), count("SELECT count(*) FROM version"),
		count("SELECT count(*) FROM warning"), size, firstSize, float64(elapsed.Milliseconds())/week)
	if within < 24*12 {
		t.Errorf("only %d snapshots of the last 24 hours kept, want all %d", within, 24*12)
	}
}
