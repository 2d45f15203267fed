package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary (testscript's copy of this test binary
// as "cairn" in $PATH) and mount with FUSE, as a user would.

// needFUSE skips a test only where FUSE cannot work at all.
func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("FUSE unavailable: %v", err)
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount"); err != nil {
			if _, err := exec.LookPath("fusermount3"); err != nil {
				t.Skip("FUSE unavailable: not root and no fusermount")
			}
		}
	}
}

// mounted is a running cairn mount.
type mounted struct {
	cmd    *exec.Cmd
	dir    string
	stderr *bytes.Buffer
	exited chan error
}

// cairnCmd runs the binary against repo.
func cairnCmd(t *testing.T, repo string, args ...string) string {
	t.Helper()
	cmd := exec.Command("cairn", args...)
	cmd.Env = append(os.Environ(), "CAIRN_REPO="+repo, "CAIRN_NO_PROGRESS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cairn %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mount starts cairn mount and waits until it says it is mounted. The
// mount is always undone at the end, even when the test fails.
func mount(t *testing.T, repo, dir string, args ...string) *mounted {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("cairn", append([]string{"mount", dir}, args...)...)
	cmd.Env = append(os.Environ(), "CAIRN_REPO="+repo)
	pr, pw := io.Pipe()
	m := &mounted{cmd: cmd, dir: dir, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = io.MultiWriter(pw, m.stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		// -z: a failed test must never leave a mount behind, busy or not.
		exec.Command("fusermount", "-u", "-z", dir).Run()
		syscall.Unmount(dir, syscall.MNT_DETACH)
	})
	go func() {
		err := cmd.Wait()
		pw.Close()
		m.exited <- err
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "mounted at") {
				ready <- sc.Text()
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
	case err := <-m.exited:
		if strings.Contains(m.stderr.String(), "FUSE is not available") || strings.Contains(m.stderr.String(), "operation not permitted") {
			t.Skipf("FUSE unavailable: %s", m.stderr.String())
		}
		t.Fatalf("cairn mount exited: %v\n%s", err, m.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("cairn mount did not mount in 20s:\n%s", m.stderr.String())
	}
	return m
}

func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// stop sends sig and requires a clean exit and no mount left.
func (m *mounted) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	m.cmd.Process.Signal(sig)
	select {
	case err := <-m.exited:
		if err != nil {
			t.Fatalf("cairn mount after %v: %v\n%s", sig, err, m.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("cairn mount still running 15s after %v", sig)
	}
	if isMounted(t, m.dir) {
		t.Fatalf("%s still mounted after %v", m.dir, sig)
	}
}

var mtime = time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)

// writeTree makes a tree with what a mount must show right: nested and
// empty directories, modes, a secret, a symlink, an odd name, an empty
// file and a file of many chunks.
func writeTree(t *testing.T, dir string) {
	t.Helper()
	big := make([]byte, 5<<20+123)
	rand.New(rand.NewSource(1)).Read(big)
	files := map[string][]byte{
		"config.yaml": []byte("model: a\n"), ".env": []byte("KEY=1\n"), "cron/jobs.json": []byte(`{"jobs":[1,2]}`),
		"data/big.bin": big, "empty": nil, "odd name\twith tab": []byte("odd"), "bin/run.sh": []byte("#!/bin/sh\n"),
	}
	for rel, body := range files {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, ".env"), 0o600)
	os.Chmod(filepath.Join(dir, "bin/run.sh"), 0o750)
	os.MkdirAll(filepath.Join(dir, "empty-dir"), 0o700)
	os.Symlink("cron/jobs.json", filepath.Join(dir, "jobs"))
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.Type()&fs.ModeSymlink == 0 {
			os.Chtimes(p, mtime, mtime)
		}
		return nil
	})
}

// sameTree compares got (through the mount) with want, entry by entry:
// type, mode, size, mtime to the nanosecond, symlink target, bytes.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	// latest and by-time/* are symlinks to the snapshot's directory.
	got, err := filepath.EvalSymlinks(got)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		g := filepath.Join(got, rel)
		wi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		gi, err := os.Lstat(g)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		n++
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		if wi.Mode()&fs.ModeSymlink != 0 {
			wt, _ := os.Readlink(p)
			gt, err := os.Readlink(g)
			if err != nil || gt != wt {
				t.Errorf("%s: link %q (%v), want %q", rel, gt, err, wt)
			}
			return nil
		}
		if !wi.ModTime().Equal(gi.ModTime()) {
			t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
		}
		if wi.Mode().IsRegular() {
			if wi.Size() != gi.Size() {
				t.Errorf("%s: size %d, want %d", rel, gi.Size(), wi.Size())
			}
			wb, _ := os.ReadFile(p)
			gb, err := os.ReadFile(g)
			if err != nil || !bytes.Equal(wb, gb) {
				t.Errorf("%s: bytes differ through the mount (%v)", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gotNames, _ := filepath.Glob(filepath.Join(got, "*"))
	wantNames, _ := filepath.Glob(filepath.Join(want, "*"))
	if len(gotNames) != len(wantNames) {
		t.Errorf("top level: %d entries through the mount, want %d", len(gotNames), len(wantNames))
	}
	if n < 10 {
		t.Fatalf("compared only %d entries", n)
	}
}

func TestMountSource(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	repo, src := filepath.Join(dir, "repo"), filepath.Join(dir, "src")
	writeTree(t, src)
	cairnCmd(t, repo, "snap", src)
	first := filepath.Join(dir, "first")
	if out, err := exec.Command("cp", "-a", src, first).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(src, "config.yaml"), []byte("model: b\n"), 0o644)
	os.Remove(filepath.Join(src, "empty"))
	cairnCmd(t, repo, "snap", src)

	mnt := filepath.Join(dir, "mnt")
	m := mount(t, repo, mnt, "--source", src)
	sameTree(t, src, filepath.Join(mnt, "latest"))
	sameTree(t, first, filepath.Join(mnt, "snapshots", "1"))
	if target, err := os.Readlink(filepath.Join(mnt, "latest")); err != nil || target != "snapshots/2" {
		t.Errorf("latest -> %q (%v), want snapshots/2", target, err)
	}
	des, err := os.ReadDir(filepath.Join(mnt, "by-time"))
	if err != nil || len(des) != 2 {
		t.Fatalf("by-time: %v, %v", des, err)
	}
	for i, de := range des {
		name := strings.SplitN(de.Name(), "~", 2)[0]
		if _, err := time.Parse(time.RFC3339, name); err != nil {
			t.Errorf("by-time name %q: %v", de.Name(), err)
		}
		target, _ := os.Readlink(filepath.Join(mnt, "by-time", de.Name()))
		if want := "../snapshots/" + string(rune('1'+i)); target != want {
			t.Errorf("by-time/%s -> %q, want %q", de.Name(), target, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(mnt, "by-time", des[0].Name(), "config.yaml"))
	if err != nil || string(b) != "model: a\n" {
		t.Errorf("by-time/first/config.yaml = %q, %v", b, err)
	}
	// Read only: nothing can be made or changed.
	if err := os.WriteFile(filepath.Join(mnt, "latest", "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write into the mount: %v, want EROFS", err)
	}
	// A snapshot taken while mounted appears.
	os.WriteFile(filepath.Join(src, "later.txt"), []byte("later"), 0o644)
	cairnCmd(t, repo, "snap", src)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(mnt, "latest", "later.txt")); err == nil && string(b) == "later" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a new snapshot did not appear in latest/ within 5s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A forgotten snapshot goes away.
	cairnCmd(t, repo, "forget", "1")
	for deadline = time.Now().Add(5 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(mnt, "snapshots", "1")); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a forgotten snapshot was still in snapshots/ after 5s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	m.stop(t, syscall.SIGTERM)
}

// TestMountAllSourcesBusyUnmount: without --source, one directory per
// source (base names, made unique); SIGINT unmounts even while a file is
// open in the mount.
func TestMountAllSourcesBusyUnmount(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	for _, s := range []string{"a/.agent", "b/.agent", "notes"} {
		p := filepath.Join(dir, s)
		os.MkdirAll(p, 0o755)
		os.WriteFile(filepath.Join(p, "f.txt"), []byte(s), 0o644)
		cairnCmd(t, repo, "snap", p)
	}
	mnt := filepath.Join(dir, "mnt")
	m := mount(t, repo, mnt)
	des, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	if got, want := strings.Join(names, " "), ".agent~1 .agent~2 notes"; got != want {
		t.Fatalf("sources: %q, want %q", got, want)
	}
	b, err := os.ReadFile(filepath.Join(mnt, ".agent~2", "latest", "f.txt"))
	if err != nil || string(b) != "b/.agent" {
		t.Fatalf(".agent~2/latest/f.txt = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "notes", "snapshots", "1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("notes/snapshots/1 (another source's snapshot): %v, want not found", err)
	}
	f, err := os.Open(filepath.Join(mnt, "notes", "latest", "f.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m.stop(t, os.Interrupt)
}
