package restore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
)

// sentinels is the refusal sentinel of each failed item, by path.
func sentinels(res *Result) map[string]error {
	m := map[string]error{}
	for _, it := range res.Failed() {
		for _, s := range []error{ErrTornJSON, ErrDatabaseInUse, ErrDatabaseDamaged, ErrPathInTheWay, ErrUnsafePath, ErrNotCovered} {
			if errors.Is(it.Err, s) {
				m[it.Rel] = s
			}
		}
		if m[it.Rel] == nil {
			m[it.Rel] = it.Err
		}
	}
	return m
}

// The dry run and the real run are one plan: what the dry run refuses the
// real run refuses, with the same sentinel, and what it would write is
// written. A plan that only refuses needs no undo snapshot.
func TestDryRunAgreesWithExecute(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "torn.json"), `{"a":[1,`, 0o644)
	writeFile(t, filepath.Join(src, "inway.txt"), "a file", 0o644)
	writeFile(t, filepath.Join(src, "dir/x.txt"), "x", 0o644)
	createDB(t, filepath.Join(src, "app.db"), 50)
	writeFile(t, filepath.Join(src, "fine.txt"), "fine", 0o644)
	backdate(t, src)
	s := r.snap(t, src)

	writeFile(t, filepath.Join(src, "torn.json"), `{"a":[]}`, 0o644)
	os.Remove(filepath.Join(src, "inway.txt"))
	os.Mkdir(filepath.Join(src, "inway.txt"), 0o755)
	os.RemoveAll(filepath.Join(src, "dir"))
	writeFile(t, filepath.Join(src, "dir"), "a file where the directory was", 0o644)
	writeFile(t, filepath.Join(src, "fine.txt"), "changed", 0o644)
	// The database is held open by another process, as by a running
	// program (InUse never counts this one).
	holder := exec.Command("sh", "-c", "exec 3<\"$1\"; sleep 60", "sh", filepath.Join(src, "app.db"))
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	for i := 0; i < 100; i++ {
		if busy, _ := sqlitefile.InUse(filepath.Join(src, "app.db")); busy {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	want := map[string]error{"torn.json": ErrTornJSON, "inway.txt": ErrPathInTheWay, "dir": ErrPathInTheWay,
		"dir/x.txt": ErrPathInTheWay, "app.db": ErrDatabaseInUse}
	var reqs []Request
	for _, rel := range []string{"torn.json", "inway.txt", "dir", "app.db"} {
		reqs = append(reqs, Request{Snapshot: s, Path: rel, UserPath: rel})
	}
	plan, err := NewPlan(ctx, r.deps(), reqs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := plan.UndoNeeds(); len(n) != 0 {
		t.Errorf("a plan that refuses everything needs undo snapshots %v", n)
	}
	dry, dryErr := Run(ctx, r.deps(), reqs, Options{DryRun: true})
	real, realErr := Run(ctx, r.deps(), reqs, Options{})
	for name, res := range map[string]*Result{"dry run": dry, "real run": real} {
		got := sentinels(res)
		for rel, s := range want {
			if got[rel] != s {
				t.Errorf("%s: %s refused with %v, want %v", name, rel, got[rel], s)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: refused %v, want %v", name, got, want)
		}
	}
	if dryErr == nil || realErr == nil || !errors.Is(dryErr, ErrTornJSON) || !errors.Is(realErr, ErrDatabaseInUse) {
		t.Errorf("errors: dry run %v, real run %v; want both to join the refusals", dryErr, realErr)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "torn.json")); string(b) != `{"a":[]}` {
		t.Errorf("a refused file changed to %q", b)
	}

	// What the dry run would write, the real run writes.
	reqs = []Request{{Snapshot: s, Path: "fine.txt", UserPath: "fine.txt"}}
	plan, err = NewPlan(ctx, r.deps(), reqs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := plan.UndoNeeds(); len(n) != 1 || n[0].Source != s.Source || len(n[0].Paths) != 1 || n[0].Paths[0] != "fine.txt" {
		t.Errorf("UndoNeeds = %+v, want fine.txt of %s", n, s.Source)
	}
	res, err := plan.Execute(ctx)
	if err != nil || res.Written != 1 || res.Items[0].Kind != KindWrite {
		t.Errorf("execute: %+v, %v", res, err)
	}
}

// As root, owners come back as recorded, and with them a setuid bit; a
// setuid file whose owner was not recorded loses the bit, as does one
// restored by a user who cannot give it its owner.
func TestOwnersAndSetuid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "bin/tool"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(src, "plain.txt"), "plain", 0o640)
	os.Symlink("plain.txt", filepath.Join(src, "link"))
	for _, p := range []string{"bin/tool", "plain.txt", "bin"} {
		if err := os.Chown(filepath.Join(src, p), 1234, 2345); err != nil {
			t.Fatal(err)
		}
	}
	os.Lchown(filepath.Join(src, "link"), 1234, 2345)
	os.Chmod(filepath.Join(src, "bin/tool"), 0o4755|os.ModeSetuid)
	if err := os.Chmod(filepath.Join(src, "bin/tool"), os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	backdate(t, src)
	s := r.snap(t, src)
	if v, err := r.db.VersionAt(ctx, s, "bin/tool"); err != nil || v.UID != 1234 || v.GID != 2345 || v.Mode != 0o4755 {
		t.Fatalf("bin/tool recorded as %+v, %v", v, err)
	}

	owned := func(p string) (uid, gid uint32, mode os.FileMode) {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		return st.Uid, st.Gid, fi.Mode()
	}
	to := t.TempDir()
	if _, err := Run(ctx, r.deps(), []Request{{Snapshot: s, Path: ".", UserPath: "."}}, Options{To: to}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bin/tool", "plain.txt", "bin", "link"} {
		if uid, gid, _ := owned(filepath.Join(to, p)); uid != 1234 || gid != 2345 {
			t.Errorf("%s restored owned by %d:%d, want 1234:2345", p, uid, gid)
		}
	}
	if _, _, mode := owned(filepath.Join(to, "bin/tool")); mode&os.ModeSetuid == 0 || mode.Perm() != 0o755 {
		t.Errorf("bin/tool restored with mode %v, want setuid 0755", mode)
	}

	// Not root: the file cannot get its owner, so it loses the bit.
	geteuid = func() int { return 1000 }
	plan, err := NewPlan(ctx, r.deps(), []Request{{Snapshot: s, Path: "bin/tool", UserPath: "bin/tool"}}, Options{To: t.TempDir()})
	geteuid = os.Geteuid
	if err != nil {
		t.Fatal(err)
	}
	it := plan.Items[0]
	if it.mode&os.ModeSetuid != 0 || it.owner != nil || len(it.Notes) != 1 {
		t.Errorf("not root: mode %v owner %v notes %q; want setuid dropped, no chown, a note", it.mode, it.owner, it.Notes)
	}

	// Root, but the owner was never recorded (an older catalog).
	if err := r.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE version SET uid = NULL, gid = NULL")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	to = t.TempDir()
	res, err := Run(ctx, r.deps(), []Request{{Snapshot: s, Path: "bin/tool", UserPath: "bin/tool"}}, Options{To: to})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, mode := owned(filepath.Join(to, "bin/tool")); mode&os.ModeSetuid != 0 {
		t.Errorf("without a recorded owner, root restored a setuid-root file: %v", mode)
	}
	if notes := itemsByRel(restored{res, nil})["bin/tool"].Notes; len(notes) != 1 {
		t.Errorf("notes = %q, want one saying setuid was dropped", notes)
	}
}

// All-zero runs come back as holes: a sparse file stays sparse.
func TestSparseFileStaysSparse(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	p := filepath.Join(src, "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("header")
	f.WriteAt([]byte("middle"), 20<<20)
	f.Truncate(48 << 20) // ends in a hole
	f.Close()
	backdate(t, src)
	s := r.snap(t, src)
	to := t.TempDir()
	if _, err := Run(context.Background(), r.deps(), []Request{{Snapshot: s, Path: ".", UserPath: "."}}, Options{To: to}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(to, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 48<<20 {
		t.Fatalf("size %d, want %d", fi.Size(), 48<<20)
	}
	if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; used > 4<<20 {
		t.Errorf("the restored 48 MiB sparse file uses %d bytes of disk; want it sparse", used)
	}
	want, _ := os.ReadFile(p)
	got, _ := os.ReadFile(filepath.Join(to, "disk.img"))
	if string(got) != string(want) {
		t.Error("the sparse file's bytes differ")
	}
}

// A database that failed its check at capture is refused; with Force it
// is written as recorded (the check it would fail is skipped), with a
// note.
func TestDamagedDatabaseNeedsForce(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	p := filepath.Join(src, "app.db")
	createDB(t, p, 2000)
	damageDB(t, p)
	backdate(t, src)
	s := r.snap(t, src)
	v, err := r.db.VersionAt(ctx, s, "app.db")
	if err != nil {
		t.Fatal(err)
	}
	if v.Capture != catalog.CaptureSQLite || v.DBCheck == "ok" || v.DBCheck == "" {
		t.Fatalf("captured as %s with check %q; the test needs a database that fails its check", v.Capture, v.DBCheck)
	}
	to := t.TempDir()
	req := []Request{{Snapshot: s, Path: "app.db", UserPath: "app.db"}}
	res, err := Run(ctx, r.deps(), req, Options{To: to})
	if !errors.Is(err, ErrDatabaseDamaged) {
		t.Errorf("without Force: %v, want ErrDatabaseDamaged", err)
	}
	if _, err := os.Stat(filepath.Join(to, "app.db")); err == nil {
		t.Error("a damaged database was written without Force")
	}
	res, err = Run(ctx, r.deps(), req, Options{To: to, Force: true})
	if err != nil {
		t.Fatalf("with Force: %v", err)
	}
	if it := res.Items[0]; it.Kind != KindWrite || len(it.Notes) == 0 {
		t.Errorf("with Force: %+v, want written with a note", it)
	}
	got, _ := os.ReadFile(filepath.Join(to, "app.db"))
	if int64(len(got)) != v.Size {
		t.Errorf("wrote %d bytes, want %d", len(got), v.Size)
	}
}

// damageDB overwrites the header of a table's leaf page with garbage: the
// file still opens, but quick_check and integrity_check fail.
func damageDB(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var pageSize, pages int64
	db.QueryRow("PRAGMA page_size").Scan(&pageSize)
	if _, err := db.Exec("PRAGMA journal_mode = DELETE"); err != nil {
		t.Fatal(err)
	}
	db.QueryRow("PRAGMA page_count").Scan(&pages)
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The page before the last: a leaf of the item table.
	if _, err := f.WriteAt([]byte{0x0d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, (pages-2)*pageSize); err != nil {
		t.Fatal(err)
	}
}
