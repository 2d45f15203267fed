package snapshotfs_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/snapshot"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// repo is a real repository in a temporary directory.
type repo struct {
	dir   string
	db    *catalog.DB
	store blobstore.Store
}

func newRepo(t testing.TB) *repo {
	t.Helper()
	dir := t.TempDir()
	store, err := blobstore.NewLocal(filepath.Join(dir, "packs"), filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return newRepoWith(t, dir, store)
}

// newRepoWith is a repository in dir whose packs live in store.
func newRepoWith(t testing.TB, dir string, store blobstore.Store) *repo {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(context.Background(), filepath.Join(dir, "catalog.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close()
		db.Close()
	})
	return &repo{dir: dir, db: db, store: store}
}

// run takes a snapshot of src.
func (r *repo) run(src string) (*snapshot.Result, error) {
	return snapshot.Run(context.Background(),
		snapshot.Deps{DB: r.db, Store: r.store, TmpDir: filepath.Join(r.dir, "tmp"), Params: chunker.Default},
		src, snapshot.Options{})
}

// snap snapshots src and opens a view of the snapshot.
func (r *repo) snap(t testing.TB, src string) *snapshotfs.FS {
	t.Helper()
	ctx := context.Background()
	res, err := r.run(src)
	if err != nil {
		t.Fatalf("snapshot %s: %v", src, err)
	}
	view, err := snapshotfs.New(ctx, r.db, r.store, nil, res.ID)
	if err != nil {
		t.Fatalf("open view of snapshot %d: %v", res.ID, err)
	}
	return view
}

// sourceDir is a temporary directory with symlinks resolved, as cairn
// records sources.
func sourceDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func write(t testing.TB, path string, data []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(s).Read(b)
	return b
}

// logText is compressible text whose lines differ, so it is cut into
// many chunks that share zstd frames.
func logText(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%08d ", i*7919%1000003)
		b.WriteString(strings.Repeat("x", i%17))
		b.WriteString(" line ")
		b.WriteString(strings.Repeat("cairn stone ", 1+i%5))
		b.WriteByte('\n')
	}
	return b.Bytes()[:n]
}

// sourcePaths lists every path under root as the view names it, leaving
// out SQLite sidecars, which snapshots never store.
func sourcePaths(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, "-wal") || strings.HasSuffix(p, "-shm") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel != "." {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func openSQLite(t testing.TB, path, query string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?"+query)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func snapshotfsNew(t testing.TB, r *repo, store blobstore.Store, id int64) (*snapshotfs.FS, error) {
	t.Helper()
	return snapshotfs.New(context.Background(), r.db, store, nil, id)
}
