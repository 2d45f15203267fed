package cairn_test

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/snapshot"
)

// TestFormat1KeepsWorking: a repository laid out as cairn made them before
// format 2 (catalog.db, packs/ and tmp/ at the top, no cairn.repo) opens
// and works as before, without a log: nothing appears under local/, and a
// rebuild is refused with ErrNoLog.
func TestFormat1KeepsWorking(t *testing.T) {
	ctx := t.Context()
	base := canonicalTempDir(t)
	dir := filepath.Join(base, "repo")
	os.MkdirAll(dir, 0o700)
	db, err := catalog.Open(ctx, filepath.Join(dir, "catalog.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.InitMeta(ctx, map[string]string{"repository_format": "1", "chunker": chunker.Default.String(), "created": "2026-01-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("format one"), 0o644)

	repo, err := cairn.Open(ctx, dir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if repo.HasLog() {
		t.Fatal("a format-1 repository has a log")
	}
	if got := repo.CatalogPath(); got != filepath.Join(dir, "catalog.db") {
		t.Fatalf("catalog at %s", got)
	}
	want := takeManifest(t, src)
	res, err := repo.Snapshot(ctx, src, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := repo.Resolve(ctx, src, res.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(base, "out")
	if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, "format-1 restore", want, takeManifest(t, to))
	if rep, err := repo.Check(ctx, true); err != nil || !rep.OK() {
		t.Fatalf("check: %v %v", rep, err)
	}
	for _, name := range []string{"local", "cairn.repo", "log"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s appeared in a format-1 repository", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp")); err != nil {
		t.Errorf("format-1 scratch: %v", err)
	}
	if _, err := cairn.RepairCatalog(ctx, dir, cairn.Options{}); !errors.Is(err, cairn.ErrNoLog) {
		t.Fatalf("RepairCatalog of format 1: %v, want ErrNoLog", err)
	}
}

// TestFormat2Layout: a new repository is format 2: cairn.repo with its
// fields, and local/ holding the catalog, the writer id and the key.
func TestFormat2Layout(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(canonicalTempDir(t), "repo")
	repo, err := cairn.Open(ctx, dir, cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	b, err := os.ReadFile(filepath.Join(dir, "cairn.repo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"format": 2`, `"cipher": "xchacha20poly1305"`, `"id_hash": "blake3-keyed"`, `"chunker": "` + chunker.Default.String() + `"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("cairn.repo lacks %s:\n%s", want, b)
		}
	}
	for _, name := range []string{"local/catalog.db", "local/key", "local/writer", "local/tmp", "packs", "log"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("format 2: %v", err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "local", "key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("local/key: %v %v", fi.Mode(), err)
	}
	// Opening it again changes neither the id nor the key.
	key, _ := os.ReadFile(filepath.Join(dir, "local", "key"))
	repo, err = cairn.Open(ctx, dir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	if again, _ := os.ReadFile(filepath.Join(dir, "local", "key")); string(again) != string(key) {
		t.Fatal("the key changed")
	}
	// Without its key the repository says so.
	os.Remove(filepath.Join(dir, "local", "key"))
	if _, err := cairn.Open(ctx, dir, cairn.Options{}); !errors.Is(err, cairn.ErrNoKey) {
		t.Fatalf("open without the key: %v, want ErrNoKey", err)
	}
}

// TestFormat2ContentHashesArePlainBLAKE3: in an encrypted repository chunk
// ids are keyed, but a file's content hash (the hash column of the public
// views) stays the plain BLAKE3 of its bytes, what b3sum prints, so users
// can compare a file with its recorded version (issue 11).
func TestFormat2ContentHashesArePlainBLAKE3(t *testing.T) {
	ctx := t.Context()
	base := canonicalTempDir(t)
	src, dir := filepath.Join(base, "src"), filepath.Join(base, "repo")
	files := map[string][]byte{
		"small.json": []byte(`{"a": 1}` + "\n"),
		"large.txt":  []byte(strings.Repeat("a line of text that repeats, with a number: 12345\n", 40000)),
	}
	for name, data := range files {
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(filepath.Join(src, name), old, old)
	}
	repo, err := cairn.Open(ctx, dir, cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if !cairn.SealedForTest(repo) {
		t.Fatal("a new repository does not write format-2 packs")
	}
	if _, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		var got string
		if err := cairn.CatalogForTest(repo).Reader().QueryRowContext(ctx, `SELECT hash FROM versions WHERE path = ?`, name).Scan(&got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := blake3.Sum256(data); got != hex.EncodeToString(want[:]) {
			t.Errorf("%s: hash %s, want its plain BLAKE3 %x", name, got, want)
		}
	}
}
