package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Write(root, "a.txt", Options{Mode: 0o640}, func(w io.Writer) error {
		_, err := io.WriteString(w, "new")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "a.txt"))
	fi, _ := os.Stat(filepath.Join(dir, "a.txt"))
	if string(got) != "new" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("got %q mode %v, want \"new\" 0640", got, fi.Mode().Perm())
	}
	assertNoTemps(t, dir)
}

func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	root, _ := os.OpenRoot(dir)
	defer root.Close()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("old"), 0o644)
	boom := errors.New("boom")
	for name, opts := range map[string]Options{
		"fill":  {},
		"check": {Check: func(string) error { return boom }},
	} {
		err := Write(root, "a.txt", opts, func(w io.Writer) error {
			io.WriteString(w, "partial")
			if opts.Check == nil {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("%s: err = %v, want boom", name, err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "a.txt"))
		if string(got) != "old" {
			t.Fatalf("%s: target changed to %q", name, got)
		}
		assertNoTemps(t, dir)
	}
}

func TestWriteStaysInsideRoot(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	os.Symlink(outside, filepath.Join(dir, "escape"))
	root, _ := os.OpenRoot(dir)
	defer root.Close()
	for _, name := range []string{"../x", "escape/x", "/etc/x"} {
		err := Write(root, name, Options{Mode: 0o600}, func(w io.Writer) error { return nil })
		if err == nil {
			t.Fatalf("Write(%q) succeeded; want an error", name)
		}
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("wrote outside the root: %v", entries)
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			t.Fatalf("temp file left behind: %s", e.Name())
		}
	}
}

func TestStageCommitBatch(t *testing.T) {
	dir := t.TempDir()
	root, _ := os.OpenRoot(dir)
	defer root.Close()
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("old"), 0o644)
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	fsys, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	var staged []*Staged
	for _, name := range []string{"a.txt", "b.txt"} {
		s, err := Stage(root, name, Options{Mode: 0o600, Mtime: mtime}, false, func(w io.Writer) error {
			_, err := io.WriteString(w, "new "+name)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		staged = append(staged, s)
	}
	// Staged but not committed: the targets are as they were.
	if got, _ := os.ReadFile(filepath.Join(dir, "b.txt")); string(got) != "old" {
		t.Fatalf("b.txt changed before commit: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); err == nil {
		t.Fatal("a.txt visible before commit")
	}
	if err := fsys.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, s := range staged {
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a.txt", "b.txt"} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		fi, _ := os.Stat(filepath.Join(dir, name))
		if string(got) != "new "+name || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mtime) {
			t.Fatalf("%s: %q mode %v mtime %v", name, got, fi.Mode().Perm(), fi.ModTime())
		}
	}
	assertNoTemps(t, dir)
}
