package cairn_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/blobstore/memstore"
)

// TestReadAPI: Sources, Snapshots with each filter, and History, on two
// sources with a clock that moves an hour per snapshot.
func TestReadAPI(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	clock := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	snap := func(dir, content string, tags ...string) int64 {
		t.Helper()
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := repo.Snapshot(ctx, dir, cairn.SnapshotOptions{Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Hour)
		return res.ID
	}
	a1 := snap(a, "1", "boot")
	b1 := snap(b, "x")
	a2 := snap(a, "22", "boot", "upgrade")
	a3 := snap(a, "333")

	sources, err := repo.Sources(ctx)
	if err != nil || len(sources) != 2 || sources[0].Path != a || sources[1].Path != b {
		t.Fatalf("Sources = %+v, %v; want %s and %s", sources, err, a, b)
	}
	if s := sources[0]; s.PolicySet || s.MassDeletion != cairn.DefaultMassDeletion || !slices.Equal(s.RuntimePatterns(), cairn.DefaultRuntime()) {
		t.Errorf("source settings %+v; want the defaults", s)
	}
	ids := func(f cairn.SnapshotFilter) []int64 {
		t.Helper()
		snaps, err := repo.Snapshots(ctx, f)
		if err != nil {
			t.Fatalf("Snapshots(%+v): %v", f, err)
		}
		var out []int64
		for _, s := range snaps {
			out = append(out, s.ID)
		}
		return out
	}
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		f    cairn.SnapshotFilter
		want []int64
	}{
		{"all", cairn.SnapshotFilter{}, []int64{a1, b1, a2, a3}},
		{"source", cairn.SnapshotFilter{Source: a}, []int64{a1, a2, a3}},
		{"tag", cairn.SnapshotFilter{Tags: []string{"boot"}}, []int64{a1, a2}},
		{"every tag", cairn.SnapshotFilter{Tags: []string{"boot", "upgrade"}}, []int64{a2}},
		{"since", cairn.SnapshotFilter{Since: start.Add(90 * time.Minute)}, []int64{a2, a3}},
		{"until", cairn.SnapshotFilter{Until: start.Add(time.Hour)}, []int64{a1, b1}},
		{"latest per source", cairn.SnapshotFilter{Latest: 1}, []int64{b1, a3}},
		{"latest 2 of a", cairn.SnapshotFilter{Source: a, Latest: 2}, []int64{a2, a3}},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: snapshots %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := repo.Snapshots(ctx, cairn.SnapshotFilter{Source: filepath.Join(a, "f.txt")}); !errors.Is(err, cairn.ErrInsideSource) {
		t.Errorf("a file as the source: %v, want ErrInsideSource", err)
	}
	if _, err := repo.Snapshots(ctx, cairn.SnapshotFilter{Source: filepath.Join(base, "never")}); !errors.Is(err, cairn.ErrNeverSnapshotted) {
		t.Errorf("an unknown source: %v, want ErrNeverSnapshotted", err)
	}

	h, err := repo.History(ctx, filepath.Join(a, "f.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Source != a || h.Path != "f.txt" || len(h.Versions) != 3 {
		t.Fatalf("History = %+v", h)
	}
	if v := h.Versions[0]; v.Size != 3 || v.FirstSnapshot != a3 || v.LastSnapshot != a3 || !v.FirstSeen.Equal(start.Add(3*time.Hour)) {
		t.Errorf("newest version %+v; want 3 bytes seen in snapshot %d only", v, a3)
	}
	if _, err := repo.History(ctx, filepath.Join(base, "elsewhere")); !errors.Is(err, cairn.ErrNoSource) {
		t.Errorf("History outside every source: %v, want ErrNoSource", err)
	}
}

// TestWarningKindsNamed: every kind the catalog defines has its constant in
// the root package, so an application never spells one as a string.
func TestWarningKindsNamed(t *testing.T) {
	named := []string{cairn.WarnJSONEmptied, cairn.WarnJSONTorn, cairn.WarnMassDeletion, cairn.WarnSecretReadable,
		cairn.WarnDatabaseCheck, cairn.WarnDatabaseUnreadable, cairn.WarnChangedWhileReading, cairn.WarnVanished,
		cairn.WarnUnreadable, cairn.WarnSpecial, cairn.WarnMissingPack}
	if got := cairn.WarningKinds(); !slices.Equal(got, named) {
		t.Errorf("WarningKinds() = %q; the root package names %q", got, named)
	}
}

// TestOptionsStore: a repository opened with Options.Store keeps its packs
// there (an in-memory store here), never in packs/, and reads them back.
func TestOptionsStore(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	if err := os.WriteFile(filepath.Join(src, "f.txt"), []byte("in memory"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true, Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	view, err := repo.SnapshotFS(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(view, "f.txt"); err != nil || string(b) != "in memory" {
		t.Errorf("read back %q, %v", b, err)
	}
	if packs, _ := filepath.Glob(filepath.Join(base, "repo", "packs", "*", "*")); len(packs) != 0 {
		t.Errorf("packs/ holds %v; want the packs in the store given", packs)
	}
}
