package archive_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/archive"
	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/snapshot"
	"github.com/cairn-dev/cairn/snapshotfs"
)

const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// buildSource makes a tree of every kind of entry, with nanosecond
// mtimes in the past, and returns its canonical path.
func buildSource(t *testing.T) string {
	t.Helper()
	src, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 5<<20+4321)
	rand.NewChaCha8([32]byte{1}).Read(big)
	files := map[string][]byte{
		"top.txt":                         []byte("top\n"),
		"empty":                           nil,
		"a/b/c/deep.txt":                  []byte("deep\n"),
		"odd/with space.txt":              []byte("space"),
		"odd/café 日本語 🪨":                  []byte("unicode"),
		"odd/new\nline":                   []byte("newline"),
		"odd/" + strings.Repeat("L", 255): []byte("long name"),
		"odd/latin1-\xe9t\xe9":            []byte("not utf-8"),
		strings.Repeat("d", 200) + "/" + strings.Repeat("e", 200): []byte("long path"),
		"big/random.bin": big,
		"tool":           []byte("#!/bin/sh\n"),
	}
	for rel, data := range files {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(src, "tool"), 0o755|fs.ModeSetuid)
	os.MkdirAll(filepath.Join(src, "empty dir/nested"), 0o700)
	os.Symlink("../top.txt", filepath.Join(src, "a/up"))
	os.Symlink("no such file", filepath.Join(src, "dangling"))
	os.Symlink(strings.Repeat("t", 300), filepath.Join(src, "long target"))
	r := rand.New(rand.NewPCG(1, 2))
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			when := time.Unix(0, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()+r.Int64N(1e17))
			os.Chtimes(p, when, when)
		}
		return err
	})
	// Parents last, so writing children did not move their mtimes.
	when := time.Date(2010, 5, 6, 7, 8, 9, 123456789, time.UTC)
	os.Chtimes(src, when, when)
	return src
}

// snapshotView snapshots src into a new repository and opens the view.
func snapshotView(t *testing.T, src string) *snapshotfs.FS {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := catalog.Open(ctx, filepath.Join(dir, "catalog.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := blobstore.NewLocal(filepath.Join(dir, "packs"), filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	res, err := snapshot.Run(ctx, snapshot.Deps{DB: db, Store: store, TmpDir: filepath.Join(dir, "tmp"), Params: chunker.Default},
		src, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	view, err := snapshotfs.New(ctx, db, store, nil, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	return view
}

// entry is what an extracted tree must reproduce of one path.
type entry struct {
	mode  fs.FileMode
	mtime time.Time
	link  string
	data  []byte
}

func scan(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode() & (fs.ModeType | modeBits), mtime: fi.ModTime()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.link, err = os.Readlink(p)
			e.mtime = time.Time{}
		case fi.Mode().IsRegular():
			e.data, err = os.ReadFile(p)
		}
		out[filepath.ToSlash(rel)] = e
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compare(t *testing.T, label string, want, got map[string]entry, mtimeRound time.Duration) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s: %q missing", label, p)
		case g.mode != w.mode:
			t.Errorf("%s: %q mode %v, want %v", label, p, g.mode, w.mode)
		case g.link != w.link:
			t.Errorf("%s: %q link %q, want %q", label, p, g.link, w.link)
		case !bytes.Equal(g.data, w.data):
			t.Errorf("%s: %q bytes differ", label, p)
		case !g.mtime.Truncate(mtimeRound).Equal(w.mtime.Truncate(mtimeRound)):
			t.Errorf("%s: %q mtime %v, want %v", label, p, g.mtime, w.mtime)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: extra %q", label, p)
		}
	}
}

// TestTarExtractsToTheSource dumps a snapshot as tar and extracts it with
// the system's tar: the result is the source, to the nanosecond.
func TestTarExtractsToTheSource(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar command")
	}
	src := buildSource(t)
	want := scan(t, src)
	view := snapshotView(t, src)

	var buf bytes.Buffer
	if err := archive.Write(&buf, view, ".", archive.Tar); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("tar", "-xpf", "-", "-C", out)
	cmd.Stdin = &buf
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, msg)
	}
	os.Chtimes(out, want["."].mtime, want["."].mtime) // "." has no entry
	got := scan(t, out)
	if os.Getuid() != 0 {
		// An ordinary user's tar drops setuid on extraction.
		g := got["tool"]
		g.mode |= want["tool"].mode & fs.ModeSetuid
		got["tool"] = g
	}
	compare(t, "tar", want, got, 1)
}

// TestTarOfASubtree names entries from the subtree's own name.
func TestTarOfASubtree(t *testing.T) {
	src := buildSource(t)
	view := snapshotView(t, src)
	var buf bytes.Buffer
	if err := archive.Write(&buf, view, "a/b", archive.Tar); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, &buf)
	if want := "b/ b/c/ b/c/deep.txt"; strings.Join(names, " ") != want {
		t.Errorf("entries %q, want %q", names, want)
	}
	buf.Reset()
	if err := archive.Write(&buf, view, "a/b/c/deep.txt", archive.Tar); err != nil {
		t.Fatal(err)
	}
	if names := tarNames(t, &buf); strings.Join(names, " ") != "deep.txt" {
		t.Errorf("entries of a one-file dump %q", names)
	}
	if err := archive.Write(io.Discard, view, "no/such", archive.Tar); !errorsIsNotExist(err) {
		t.Errorf("dump of a missing path = %v", err)
	}
}

func tarNames(t *testing.T, r io.Reader) []string {
	t.Helper()
	cmd := exec.Command("tar", "-tf", "-")
	cmd.Stdin = r
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tar -t: %v", err)
	}
	return strings.Fields(string(out))
}

func errorsIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// TestZip reads a zip dump back with archive/zip and, when there is one,
// checks it with unzip -t.
func TestZip(t *testing.T) {
	src := buildSource(t)
	want := scan(t, src)
	view := snapshotView(t, src)
	var buf bytes.Buffer
	if err := archive.Write(&buf, view, ".", archive.Zip); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]entry{".": want["."]}
	for _, f := range zr.File {
		e := entry{mode: f.Mode() & (fs.ModeType | modeBits), mtime: f.Modified}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		switch {
		case e.mode&fs.ModeSymlink != 0:
			e.link, e.mtime = string(data), time.Time{}
		case e.mode.IsRegular():
			e.data = data
		}
		got[strings.TrimSuffix(f.Name, "/")] = e
	}
	compare(t, "zip", want, got, time.Second) // zip keeps whole seconds
	if _, err := exec.LookPath("unzip"); err == nil {
		p := filepath.Join(t.TempDir(), "dump.zip")
		os.WriteFile(p, buf.Bytes(), 0o600)
		if msg, err := exec.Command("unzip", "-tq", p).CombinedOutput(); err != nil {
			t.Errorf("unzip -t: %v\n%s", err, msg)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]archive.Format{"tar": archive.Tar, "ZIP": archive.Zip} {
		if got, err := archive.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := archive.ParseFormat("rar"); err == nil {
		t.Error("ParseFormat(rar) succeeded")
	}
}

// TestTarKeepsRecordedOwners: each tar entry carries the numeric owner the
// snapshot recorded (names are left out: they would be the dumping
// system's guesses).
func TestTarKeepsRecordedOwners(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chown needs root")
	}
	src := buildSource(t)
	if err := os.Lchown(filepath.Join(src, "top.txt"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	view := snapshotView(t, src)
	var buf bytes.Buffer
	if err := archive.Write(&buf, view, ".", archive.Tar); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner names %q/%q, want none", h.Name, h.Uname, h.Gname)
		}
		if h.Name == "top.txt" {
			found = true
			if h.Uid != 1234 || h.Gid != 5678 {
				t.Errorf("top.txt: owner %d:%d, want 1234:5678", h.Uid, h.Gid)
			}
		}
	}
	if !found {
		t.Fatal("no top.txt entry")
	}
}
