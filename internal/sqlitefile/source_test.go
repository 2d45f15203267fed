package sqlitefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/internal/beneath"
)

// CopyAt never reads a database through a symlink, and refuses a copy
// when SQLite (which opens by path) was led to another file than the one
// opened beneath the directory.
func TestCopyAtNeverReadsOutside(t *testing.T) {
	ctx := context.Background()
	root, outside, scratch := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	makeTable(t, filepath.Join(root, "sub", "x.db"))
	makeTable(t, filepath.Join(outside, "x.db"))
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	dir, err := beneath.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()

	if _, err := CopyAt(ctx, dir, "link/x.db", filepath.Join(scratch, "1.db"), time.Second); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("CopyAt through a symlinked parent: %v, want ELOOP", err)
	}
	if _, err := CopyAt(ctx, dir, "sub/x.db", filepath.Join(scratch, "2.db"), time.Second); err != nil {
		t.Errorf("CopyAt of the inside database: %v", err)
	}

	// The race, made deterministic: the file opened beneath the directory
	// is the inside one, but SQLite is handed a path that now leads
	// outside.
	src, err := openSource(dir, "sub/x.db")
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	dst := filepath.Join(scratch, "3.db")
	os.WriteFile(dst, nil, 0o600)
	err = copyDatabase(ctx, src, src.path, sourceDSN(filepath.Join(outside, "x.db"), busyPoll, false), dst, time.Second)
	if !errors.Is(err, ErrMoved) {
		t.Errorf("copy with SQLite reading another file: %v, want ErrMoved", err)
	}
	dst = filepath.Join(scratch, "4.db")
	os.WriteFile(dst, nil, 0o600)
	if err := copyDatabase(ctx, src, src.path, sourceDSN(src.path, busyPoll, false), dst, time.Second); err != nil {
		t.Errorf("copy with SQLite reading the same file: %v", err)
	}
}
