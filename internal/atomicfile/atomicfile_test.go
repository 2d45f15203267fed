package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// StageIn keeps Stage's guarantees through raw system calls: nothing is
// visible under the name before Commit, the target is untouched when the
// fill or the check fails, and mode (set-id bits too), owner, mtime and
// holes come out as asked.
func TestStageIn(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("old"), 0o644)
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	me := &Owner{UID: os.Getuid(), GID: os.Getgid()}
	var staged []*Staged
	for name, mode := range map[string]os.FileMode{"a.txt": 0o640, "b.txt": 0o600, "set.bin": 0o755 | os.ModeSetgid} {
		s, err := StageIn(d, name, Options{Mode: mode, Mtime: mtime, Owner: me}, false, func(w io.Writer) error {
			_, err := io.WriteString(w, "new "+name)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		staged = append(staged, s)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "b.txt")); string(got) != "old" {
		t.Fatalf("b.txt changed before commit: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); err == nil {
		t.Fatal("a.txt visible before commit")
	}
	for _, s := range staged {
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for name, mode := range map[string]os.FileMode{"a.txt": 0o640, "b.txt": 0o600, "set.bin": 0o755 | os.ModeSetgid} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		fi, _ := os.Stat(filepath.Join(dir, name))
		if string(got) != "new "+name || fi.Mode()&(os.ModePerm|os.ModeSetgid) != mode || !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: %q mode %v mtime %v", name, got, fi.Mode(), fi.ModTime())
		}
	}
	assertNoTemps(t, dir)

	boom := errors.New("boom")
	for what, opts := range map[string]Options{"fill": {Mode: 0o600}, "check": {Mode: 0o600, Check: func(string) error { return boom }}} {
		_, err := StageIn(d, "b.txt", opts, true, func(w io.Writer) error {
			io.WriteString(w, "partial")
			if opts.Check == nil {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("%s: err = %v, want boom", what, err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "b.txt")); string(got) != "new b.txt" {
			t.Fatalf("%s: target changed to %q", what, got)
		}
		assertNoTemps(t, dir)
	}
	s, _ := StageIn(d, "c.txt", Options{Mode: 0o600}, true, func(w io.Writer) error { return nil })
	s.Abort()
	assertNoTemps(t, dir)

	// A hole is seeked over and a file ending in one gets its size.
	s, err = StageIn(d, "sparse", Options{Mode: 0o600}, true, func(w io.Writer) error {
		f := w.(interface {
			io.Writer
			io.Seeker
			Truncate(int64) error
		})
		io.WriteString(f, "head")
		if _, err := f.Seek(1<<20, io.SeekCurrent); err != nil {
			return err
		}
		return f.Truncate(4 + 1<<20)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "sparse")); fi.Size() != 4+1<<20 {
		t.Errorf("sparse file: %d bytes", fi.Size())
	}
}

// StageIn skips the fchmod where the create mode gives the mode already;
// the mode must come out exact either way: one the umask would narrow
// (0666 under 022) and set-id bits still need the fchmod.
func TestStageInModesAndTimes(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for i, mode := range []fs.FileMode{0o644, 0o600, 0o666, 0o777, 0o755 | fs.ModeSetuid, 0o750 | fs.ModeSetgid, 0o400} {
		name := fmt.Sprintf("f%d", i)
		s, err := StageIn(d, name, Options{Mode: mode, Mtime: mtime}, false, func(w io.Writer) error {
			_, err := io.WriteString(w, "data")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); got != mode {
			t.Errorf("mode %v came out %v", mode, got)
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("mode %v: mtime %v, want %v", mode, fi.ModTime(), mtime)
		}
	}
}

// CreateIn writes under the file's own name and leaves nothing when the
// fill or the check fails.
func TestCreateIn(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := CreateIn(d, "ok", Options{Mode: 0o640}, func(w io.Writer) error {
		_, err := io.WriteString(w, "hello")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ok")); string(b) != "hello" {
		t.Fatalf("ok holds %q", b)
	}
	boom := errors.New("boom")
	for name, opts := range map[string]Options{"fill": {Mode: 0o644}, "check": {Mode: 0o644, Check: func(string) error { return boom }}} {
		err := CreateIn(d, name, opts, func(w io.Writer) error {
			io.WriteString(w, "partial")
			if opts.Check == nil {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("%s: err = %v, want boom", name, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: a failed CreateIn left the file (%v)", name, err)
		}
	}
	if err := CreateIn(d, "ok", Options{Mode: 0o644}, func(io.Writer) error { return nil }); err == nil {
		t.Fatal("CreateIn over an existing file succeeded")
	}
}
