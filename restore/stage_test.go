package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A whole tree restored --to an empty directory is built in a staging
// directory and moved into place: everything arrives with its metadata,
// a database passes its check where it was staged, the target gets its
// recorded mode and times, and no staging directory is left.
func TestStagedRestore(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "top.txt"), "top", 0o640)
	writeFile(t, filepath.Join(src, "ro/inner/f.txt"), "inner", 0o644)
	os.MkdirAll(filepath.Join(src, "db"), 0o755)
	createDB(t, filepath.Join(src, "db/app.db"), 300)
	os.Symlink("top.txt", filepath.Join(src, "link"))
	os.Chmod(filepath.Join(src, "ro/inner"), 0o500)
	os.Chmod(filepath.Join(src, "ro"), 0o555)
	os.Chmod(src, 0o750)
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "ro"), 0o755); os.Chmod(filepath.Join(src, "ro/inner"), 0o755) })
	backdate(t, src)
	s := r.snap(t, src)

	for name, to := range map[string]string{"absent": filepath.Join(t.TempDir(), "new"), "empty": t.TempDir()} {
		plan, err := NewPlan(context.Background(), r.deps(), []Request{{Snapshot: s, Path: ".", UserPath: "."}}, Options{To: to})
		if err != nil {
			t.Fatal(err)
		}
		if !plan.dests[0].fresh {
			t.Fatalf("%s: a restore --to an %s directory is not staged", name, name)
		}
		res, err := plan.Execute(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Written != 4 {
			t.Errorf("%s: Written = %d, want 4", name, res.Written)
		}
		for _, rel := range []string{".", "top.txt", "ro", "ro/inner", "ro/inner/f.txt", "db", "db/app.db"} {
			want, _ := os.Lstat(filepath.Join(src, rel))
			got, err := os.Lstat(filepath.Join(to, rel))
			if err != nil {
				t.Errorf("%s: %s: %v", name, rel, err)
				continue
			}
			if got.Mode() != want.Mode() || !got.ModTime().Equal(want.ModTime()) {
				t.Errorf("%s: %s: mode %v mtime %v, want %v %v", name, rel, got.Mode(), got.ModTime(), want.Mode(), want.ModTime())
			}
		}
		if n := checkDB(t, filepath.Join(to, "db/app.db")); n != 300 {
			t.Errorf("%s: restored database has %d rows, want 300", name, n)
		}
		if l, err := os.Readlink(filepath.Join(to, "link")); err != nil || l != "top.txt" {
			t.Errorf("%s: link = %q, %v", name, l, err)
		}
		entries, _ := os.ReadDir(to)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".cairn-tmp-") {
				t.Errorf("%s: %s left in the target", name, e.Name())
			}
		}
		os.Chmod(filepath.Join(to, "ro"), 0o755)
		os.Chmod(filepath.Join(to, "ro/inner"), 0o755)
	}
}

// The staged tree is moved in without replacing anything: a file that
// appears in the target between the plan and the execution is kept, its
// item fails, the rest is restored, and the staging directory is gone.
func TestStagedRestoreNeverReplaces(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), "from the snapshot", 0o644)
	writeFile(t, filepath.Join(src, "sub/b.txt"), "b", 0o644)
	writeFile(t, filepath.Join(src, "c.txt"), "c", 0o644)
	backdate(t, src)
	s := r.snap(t, src)
	to := t.TempDir()
	plan, err := NewPlan(context.Background(), r.deps(), []Request{{Snapshot: s, Path: ".", UserPath: "."}}, Options{To: to})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(to, "a.txt"), "mine", 0o600)
	writeFile(t, filepath.Join(to, "sub/mine.txt"), "mine too", 0o600)
	res, err := plan.Execute(context.Background())
	if err == nil {
		t.Fatal("Execute over paths that appeared meanwhile reported no error")
	}
	items := map[string]Item{}
	for _, it := range res.Items {
		items[it.Rel] = it
	}
	for _, rel := range []string{"a.txt", "sub", "sub/b.txt"} {
		if items[rel].Err == nil {
			t.Errorf("%s: no error, want one (something was in the way)", rel)
		}
	}
	if items["c.txt"].Err != nil {
		t.Errorf("c.txt: %v", items["c.txt"].Err)
	}
	for rel, want := range map[string]string{"a.txt": "mine", "sub/mine.txt": "mine too", "c.txt": "c"} {
		if b, err := os.ReadFile(filepath.Join(to, rel)); err != nil || string(b) != want {
			t.Errorf("%s holds %q (%v), want %q", rel, b, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(to, "sub/b.txt")); err == nil {
		t.Error("sub/b.txt was put into a directory that appeared meanwhile")
	}
	assertNoTemps(t, to)
}

// Files staged in a target whose directory is setgid would take its
// group: the chown a root restore skips for files recorded as its own
// must not be skipped there.
func TestStagedRestoreSetgidTarget(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	r := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), "a", 0o644)
	writeFile(t, filepath.Join(src, "sub/b.txt"), "b", 0o644)
	backdate(t, src)
	s := r.snap(t, src)
	to := t.TempDir()
	if err := os.Chown(to, 0, 2345); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := r.restore(t, s, ".", Options{To: to}).Err(); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"a.txt", "sub", "sub/b.txt"} {
		fi, err := os.Lstat(filepath.Join(to, rel))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
			t.Errorf("%s: owned by %d:%d, want %d:%d as recorded", rel, st.Uid, st.Gid, os.Geteuid(), os.Getegid())
		}
	}
}

// A restore cancelled while its files are written stops (the lookups of
// the next files' contents, which run ahead of the workers, with it) and
// leaves nothing of the tree under the target.
func TestCancelledRestoreStops(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	for d := range 4 {
		for i := range 300 {
			p := filepath.Join(src, fmt.Sprint("d", d), fmt.Sprint("f", i, ".json"))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(fmt.Sprintf(`{"n": %d, "d": %d}`, i, d)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	backdate(t, src)
	s := r.snap(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	to := filepath.Join(t.TempDir(), "to")
	written := 0
	_, err := Run(ctx, r.deps(), []Request{{Snapshot: s, Path: ".", UserPath: "."}}, Options{To: to, Progress: func(done, total int64) {
		if written++; written == 10 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled restore: %v, want context.Canceled", err)
	}
	if written >= 1200 {
		t.Errorf("%d files written after the cancellation at the 10th", written)
	}
	entries, _ := os.ReadDir(to)
	if len(entries) != 0 {
		t.Errorf("the cancelled restore left %v in the target", entries)
	}
}

// A directory deep in the source restored --to an empty directory gets
// its parents made, and everything under it, with each directory's mode.
func TestRestoreDeepDirectoryTo(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	for _, p := range []string{"a/b/c/one.txt", "a/b/c/d/two.txt", "a/b/three.txt", "a/other.txt"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(src, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(src, "a/b/c/d"), 0o750)
	backdate(t, src)
	s := r.snap(t, src)
	to := t.TempDir()
	if _, err := Run(context.Background(), r.deps(), []Request{{Snapshot: s, Path: "a/b", UserPath: "a/b"}}, Options{To: to}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/b/c/one.txt", "a/b/c/d/two.txt", "a/b/three.txt"} {
		if got, err := os.ReadFile(filepath.Join(to, p)); err != nil || string(got) != p {
			t.Errorf("%s: %q, %v", p, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(to, "a/other.txt")); !os.IsNotExist(err) {
		t.Errorf("a/other.txt, outside the request, restored: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(to, "a/b/c/d")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("a/b/c/d: %v, %v; want mode 0750", fi, err)
	}
}
