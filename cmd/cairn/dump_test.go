package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runDump runs a command line in-process and returns its output and the
// command's error (run would turn it into an exit code).
func runDump(t *testing.T, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, stdin: strings.NewReader("")}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.ExecuteContext(t.Context())
	if a.repo != nil {
		a.repo.Close()
	}
	return out.Bytes(), errb.Bytes(), err
}

// dumpSource is a small tree with what tar must carry: modes, nanosecond
// mtimes, symbolic links, an empty directory, long and odd names, and a
// file of several chunks.
func dumpSource(t *testing.T) string {
	t.Helper()
	src, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{2}).Read(big)
	for rel, data := range map[string][]byte{
		"config.yaml":      []byte("model: small\n"),
		"cron/jobs.json":   []byte(`{"jobs": ["backup"]}`),
		"cron/café 日本.txt": []byte("unicode"),
		"blobs/big.bin":    big,
		strings.Repeat("n", 180) + "/" + strings.Repeat("m", 180): []byte("long path"),
	} {
		p := filepath.Join(src, rel)
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(src, "config.yaml"), 0o600)
	os.Mkdir(filepath.Join(src, "empty"), 0o700)
	os.Symlink("cron/jobs.json", filepath.Join(src, "jobs"))
	when := time.Date(2020, 2, 3, 4, 5, 6, 789012345, time.UTC)
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			os.Chtimes(p, when, when)
		}
		return err
	})
	return src
}

// tree describes every path under root but the root itself.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, _ := os.Lstat(p)
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %s %x", fi.ModTime().UTC().Format(time.RFC3339Nano), sha256.Sum256(data))
		default:
			desc += " " + fi.ModTime().UTC().Format(time.RFC3339Nano)
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	return out
}

func TestDumpTarExtractsToTheSource(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar command")
	}
	src := dumpSource(t)
	repo := filepath.Join(t.TempDir(), "repo")
	if code := run([]string{"--repo", repo, "snap", src}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("snap exited %d", code)
	}
	out, stderr, err := runDump(t, "--repo", repo, "dump", src)
	if err != nil {
		t.Fatalf("dump: %v\n%s", err, stderr)
	}
	dir := t.TempDir()
	x := exec.Command("tar", "-xpf", "-", "-C", dir)
	x.Stdin = bytes.NewReader(out)
	if msg, err := x.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, msg)
	}
	want, got := tree(t, src), tree(t, dir)
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%q: extracted %q, source %q", p, got[p], w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%q: extracted, not in the source", p)
		}
	}

	// A subdirectory, by an older snapshot's id, named from its own name.
	out, _, err = runDump(t, "--repo", repo, "dump", "--snapshot", "1", filepath.Join(src, "cron"))
	if err != nil {
		t.Fatal(err)
	}
	list := exec.Command("tar", "-tf", "-")
	list.Stdin = bytes.NewReader(out)
	names, err := list.Output()
	if err != nil || string(names) != "cron/\ncron/café 日本.txt\ncron/jobs.json\n" {
		t.Errorf("tar -t of a subdirectory dump = %q, %v", names, err)
	}
}

func TestDumpZipToFile(t *testing.T) {
	src := dumpSource(t)
	repo := filepath.Join(t.TempDir(), "repo")
	if code := run([]string{"--repo", repo, "snap", src}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("snap exited %d", code)
	}
	dst := filepath.Join(t.TempDir(), "agent.zip")
	if _, stderr, err := runDump(t, "--repo", repo, "dump", "-o", dst, src); err != nil {
		t.Fatalf("dump -o: %v\n%s", err, stderr)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dump -o made %v, %v; want a 0600 file", fi, err)
	}
	data, _ := os.ReadFile(dst)
	if !bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		t.Error("-o x.zip did not write a zip")
	}
	if _, err := exec.LookPath("unzip"); err == nil {
		if msg, err := exec.Command("unzip", "-tq", dst).CombinedOutput(); err != nil {
			t.Errorf("unzip -t: %v\n%s", err, msg)
		}
	}
}

func TestDumpRefusals(t *testing.T) {
	src := dumpSource(t)
	repo := filepath.Join(t.TempDir(), "repo")
	if code := run([]string{"--repo", repo, "snap", src}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("snap exited %d", code)
	}
	var ue usageError
	if _, _, err := runDump(t, "--repo", repo, "dump", "--format", "rar", src); !errors.As(err, &ue) {
		t.Errorf("--format rar = %v; want a usage error", err)
	}
	if _, _, err := runDump(t, "--repo", repo, "dump", filepath.Join(src, "no such")); err == nil {
		t.Error("dump of a path in no snapshot succeeded")
	}
	if _, _, err := runDump(t, "--repo", repo, "dump", "--snapshot", "99", src); err == nil {
		t.Error("dump of a missing snapshot succeeded")
	}
}
