package beneath

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// tree makes root/in/file.txt, root/fifo, an outside directory with a
// secret, and symlinks to it from inside the root.
func tree(t *testing.T) (root string) {
	t.Helper()
	root = t.TempDir()
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "in", "deeper"), 0o755))
	must(os.WriteFile(filepath.Join(root, "in", "file.txt"), []byte("inside"), 0o644))
	must(os.WriteFile(filepath.Join(root, "in", "deeper", "file.txt"), []byte("deeper"), 0o644))
	must(os.WriteFile(filepath.Join(outside, "file.txt"), []byte("secret"), 0o644))
	must(os.Symlink(outside, filepath.Join(root, "link")))              // a parent that leads out
	must(os.Symlink("in", filepath.Join(root, "inlink")))               // a parent that stays in
	must(os.Symlink("file.txt", filepath.Join(root, "in", "filelink"))) // a last component
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	return root
}

// Both ways of opening (openat2, and the per-component fallback for
// kernels without it) open plain paths and refuse every symlink on the
// way, any climb out, and anything but a regular file, without blocking.
func TestOpenFile(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		name := "openat2"
		if fallback {
			name = "fallback"
		}
		t.Run(name, func(t *testing.T) {
			prev := noOpenat2.Load()
			noOpenat2.Store(fallback)
			t.Cleanup(func() { noOpenat2.Store(prev) })
			d, err := Open(tree(t))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			for rel, want := range map[string]string{"in/file.txt": "inside", "in/deeper/file.txt": "deeper", "./in//file.txt": "inside"} {
				f, err := d.OpenFile(rel)
				if err != nil {
					t.Errorf("OpenFile(%q): %v", rel, err)
					continue
				}
				b, _ := io.ReadAll(f)
				f.Close()
				if string(b) != want {
					t.Errorf("OpenFile(%q) read %q, want %q", rel, b, want)
				}
			}
			refused := map[string]error{
				"link/file.txt":   syscall.ELOOP,
				"inlink/file.txt": syscall.ELOOP,
				"in/filelink":     syscall.ELOOP,
				"../x":            syscall.EXDEV,
				"in/../../x":      syscall.EXDEV,
				"missing":         os.ErrNotExist,
				"fifo":            ErrNotRegular,
				"in":              ErrNotRegular,
			}
			for rel, want := range refused {
				start := time.Now()
				f, err := d.OpenFile(rel)
				if err == nil {
					f.Close()
					t.Errorf("OpenFile(%q) succeeded, want %v", rel, want)
					continue
				}
				if !errors.Is(err, want) {
					t.Errorf("OpenFile(%q) = %v, want %v", rel, err, want)
				}
				if time.Since(start) > time.Second {
					t.Errorf("OpenFile(%q) took %v", rel, time.Since(start))
				}
			}
			if sub, err := d.OpenDir("link"); err == nil {
				sub.Close()
				t.Error("OpenDir through a symlink succeeded")
			}
			sub, err := d.OpenDir("in/deeper")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if f, err := sub.OpenFile("file.txt"); err != nil {
				t.Errorf("OpenFile beneath a subdirectory: %v", err)
			} else {
				f.Close()
			}
		})
	}
}
