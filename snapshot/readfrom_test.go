package snapshot

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadFrom: a tree read from one directory is recorded as another
// source, which need not exist, at the time Now gives; the next such
// snapshot compares with that source's history, not the directory's.
func TestReadFrom(t *testing.T) {
	dir := canonical(t, t.TempDir())
	r := newRepo(t, filepath.Join(dir, "repo"))
	source := filepath.Join(dir, "gone", ".hermes") // never created
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	first := filepath.Join(dir, "b1")
	writeFile(t, filepath.Join(first, "a.txt"), "one")
	writeFile(t, filepath.Join(first, "b.txt"), "bee")
	res := r.snap(t, source, Options{ReadFrom: first, Now: func() time.Time { return at }})
	if res.Source != source || res.New != 3 {
		t.Fatalf("first: source %q, %d new; want %q, 3", res.Source, res.New, source)
	}
	second := filepath.Join(dir, "b2")
	writeFile(t, filepath.Join(second, "a.txt"), "two")
	writeFile(t, filepath.Join(second, "b.txt"), "bee")
	res = r.snap(t, source, Options{ReadFrom: second, Now: func() time.Time { return at.Add(time.Hour) }})
	if res.New != 0 || res.Removed != 0 {
		t.Fatalf("second: %d new, %d removed; want the first's paths carried", res.New, res.Removed)
	}
	got := r.query(t, `SELECT s.path, sn.started_ns FROM snapshot sn JOIN source s ON s.id = sn.source_id ORDER BY sn.id`)
	want := []string{source + " " + itoa(at.UnixNano()), source + " " + itoa(at.Add(time.Hour).UnixNano())}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("snapshots %v, want %v", got, want)
	}
	if srcs := r.query(t, `SELECT path FROM source`); len(srcs) != 1 {
		t.Fatalf("sources %v: the directories read from must not become sources", srcs)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
