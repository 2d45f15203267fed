package snapshot

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The small-file path (one read per file) records exactly what the
// ordinary one does: the same contents, JSON verdicts and entry counts,
// capture kinds and chunkings, for files on both sides of smallMax, empty
// ones, and a database (which it leaves to the ordinary path).
func TestSmallFilesAsOrdinaryOnes(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"empty":         "",
		"a.json":        `{"jobs":[1,2,3]}`,
		"empty.json":    "",
		"torn.json":     `{"jobs":[1,2`,
		"list.jsonl":    "{\"a\":1}\n{\"b\":2}\n",
		"bad.ndjson":    "{\"a\":1}\n{oops\n",
		"notes.txt":     "notes\n",
		"at-max.bin":    strings.Repeat("m", int(smallMax)),
		"over-max.json": `{"pad":"` + strings.Repeat("p", int(smallMax)) + `"}`,
		"dir/deep.json": `[]`,
	}
	for rel, data := range files {
		writeFile(t, filepath.Join(src, filepath.FromSlash(rel)), data)
	}
	createCounterDB(t, filepath.Join(src, "small.db"))
	backdate(t, src, time.Hour)
	const q = `SELECT v.path, v.size, v.capture, coalesce(v.json_valid, -1), coalesce(v.json_entries, -1), coalesce(hex(c.hash), ''),
		coalesce(c.chunking, '') FROM version v LEFT JOIN content c ON c.id = v.content_id WHERE v.type = 'file' ORDER BY v.path`
	small := newRepo(t, t.TempDir())
	small.snap(t, src, Options{})
	got := small.query(t, q)

	defer func(old int64) { smallMax = old }(smallMax)
	smallMax = -1
	ordinary := newRepo(t, t.TempDir())
	ordinary.snap(t, src, Options{})
	want := ordinary.query(t, q)
	if !slices.Equal(got, want) {
		t.Errorf("small-file path:\n%s\nordinary path:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(got) != len(files)+1 {
		t.Errorf("%d files recorded, want %d", len(got), len(files)+1)
	}
}
