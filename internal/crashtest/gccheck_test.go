package crashtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/cairn-dev/cairn/blobstore"
)

// ---- store-level damage: the same calls work on any blobstore.Store ----

func openStore(t *testing.T, repo string) blobstore.Store {
	t.Helper()
	s, err := blobstore.NewLocal(filepath.Join(repo, "packs"), filepath.Join(repo, "local", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// deletePack removes one pack from the repository's store.
func deletePack(t *testing.T, repo, name string) {
	t.Helper()
	if err := openStore(t, repo).Delete(context.Background(), name); err != nil {
		t.Fatal(err)
	}
}

// rewritePack replaces a pack's bytes with damage(bytes) under its name.
func rewritePack(t *testing.T, repo, name string, damage func([]byte)) {
	t.Helper()
	ctx := context.Background()
	s := openStore(t, repo)
	size, err := s.Stat(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	if err := s.ReadAt(ctx, name, data, 0); err != nil {
		t.Fatal(err)
	}
	damage(data)
	if err := s.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	u, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	if _, err := u.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func storePacks(t *testing.T, repo string) []string {
	t.Helper()
	var out []string
	err := openStore(t, repo).List(context.Background(), func(name string, size int64) error {
		out = append(out, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// catalogQuery runs one query on a repository's catalog (read-only) and
// returns the first column of every row.
func catalogQuery(t *testing.T, repo, query string, args ...any) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+catalogFile(repo)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func catalogExec(t *testing.T, repo, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+catalogFile(repo))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatal(err)
	}
}

func writeOld(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour) // not racy: unchanged files are not read again
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// TestGCRefusesStaleIndex: one page of the version_by_content index,
// put back as it was before the newest files were snapshotted. quick_check
// passed such a catalog and gc then deleted the live packs of the new
// files; check must report the damage (exit 4), and gc must not trust the
// catalog: it rebuilds it from the log (saying so) and collects on that.
func TestGCRefusesStaleIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < 8; i++ {
		writeOld(t, filepath.Join(e.src, fmt.Sprintf("old%d.bin", i)), randomBytes(3000, byte(i)))
	}
	e.must("snap", e.src)
	early, err := os.ReadFile(catalogFile(e.repo))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		writeOld(t, filepath.Join(e.src, fmt.Sprintf("new%d.bin", i)), randomBytes(3000, byte(100+i)))
	}
	e.must("snap", e.src)
	e.must("forget", "1") // the old files stay live in snapshot 2
	root := catalogQuery(t, e.repo, "SELECT rootpage FROM sqlite_schema WHERE name = 'version_by_content'")
	var page int
	fmt.Sscan(root[0], &page)
	cat := catalogFile(e.repo)
	data, err := os.ReadFile(cat)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	off := (page - 1) * pageSize
	if bytes.Equal(data[off:off+pageSize], early[off:off+pageSize]) {
		t.Fatal("fixture: the index page did not change between the snapshots")
	}
	copy(data[off:off+pageSize], early[off:off+pageSize])
	if err := os.WriteFile(cat, data, 0o600); err != nil {
		t.Fatal(err)
	}
	packs := storePacks(t, e.repo)

	r := e.run("check")
	if r.code != 4 || !strings.Contains(r.stdout, "version_by_content") {
		t.Fatalf("check of a catalog with a stale index page: want exit 4 naming the index: %v", r)
	}
	// gc runs integrity_check too and, the repository having a log,
	// rebuilds the catalog from it and collects on the rebuilt one: the
	// new files' packs stay, and every file of snapshot 2 restores.
	_ = packs
	r = e.run("gc")
	if r.code != 0 || !strings.Contains(r.stderr, "missing from index version_by_content") ||
		!strings.Contains(r.stderr, "rebuilt it from the repository's log") {
		t.Fatalf("gc of a catalog with a stale index page: want it rebuilt from the log, then collected: %v", r)
	}
	if n := e.checkData(); n != 0 {
		t.Fatalf("check after gc: %d unreferenced packs", n)
	}
	e.verifySnapshot(2, e.src, scan(t, e.src))
}

// TestGCKeepsPackWithDamagedName: one character of a pack.name row
// changed (a bit flip inside the row, which integrity_check may not see
// when the index holds the same value). The real pack then looks like an
// orphan; its footer holds chunks that files use, so gc must delete nothing.
func TestGCKeepsPackWithDamagedName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	writeOld(t, filepath.Join(e.src, "a.bin"), randomBytes(5000, 1))
	e.must("snap", e.src)
	packs := storePacks(t, e.repo)
	if len(packs) != 1 {
		t.Fatalf("fixture: %d packs", len(packs))
	}
	name := packs[0]
	damaged := name[:10] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", name[10])+1)%16]) + name[11:]
	catalogExec(t, e.repo, "UPDATE pack SET name = ? WHERE name = ?", damaged, name)

	if r := e.run("check"); r.code != 4 {
		t.Fatalf("check: want exit 4: %v", r)
	}
	// Within the grace period the "orphan" is young and stays anyway;
	// with none, the footer cross-check must stop gc.
	if r := e.run("gc"); r.code != 0 || !strings.Contains(r.stdout, "kept 1 unrecorded pack") {
		t.Fatalf("gc with its default grace: want the young pack kept: %v", r)
	}
	r := e.run("gc", "--grace", "0")
	assertOneLineError(t, r, 1, "refusing to delete anything", name)
	if after := storePacks(t, e.repo); len(after) != 1 || after[0] != name {
		t.Fatalf("gc deleted the real pack: packs now %v", after)
	}
}

// TestLostPackHeals: a pack vanishes. check reports and records it; the
// next snap stores again what the source still has, which heals every
// snapshot sharing those bytes; check then names only what no source has
// any more (unrecoverable).
func TestLostPackHeals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, d := randomBytes(6000, 1), randomBytes(6000, 2)
	writeOld(t, filepath.Join(e.src, "a.bin"), a)
	writeOld(t, filepath.Join(e.src, "d.bin"), d)
	e.must("snap", e.src) // 1: a and d, in the first pack
	lost := storePacks(t, e.repo)
	writeOld(t, filepath.Join(e.src, "b.bin"), randomBytes(6000, 3))
	e.must("snap", e.src) // 2: b in a pack of its own
	deletePack(t, e.repo, lost[0])
	os.Remove(filepath.Join(e.src, "d.bin"))
	e.must("snap", e.src) // 3: nothing read, nobody knows yet

	r := e.run("check")
	if r.code != 4 || !strings.Contains(r.stdout, "is missing") || !regexp.MustCompile(`\d+ missing packs? recorded`).MatchString(r.stdout) {
		t.Fatalf("check after losing a pack: %v", r)
	}
	if got := affected(r.stdout, e.src); !got["a.bin"] || !got["d.bin"] {
		t.Fatalf("check names %v as affected, want a.bin and d.bin", got)
	}
	e.must("snap", e.src) // 4: reads a.bin again and stores it
	r = e.run("check", "--read-data")
	if got := affected(r.stdout, e.src); r.code != 4 || got["a.bin"] || !got["d.bin"] {
		t.Fatalf("after the healing snap, want only d.bin affected (unrecoverable): %v", r)
	}
	for _, id := range []string{"1", "2", "3", "4"} {
		r := e.must("cat", "--snapshot", id, filepath.Join(e.src, "a.bin"))
		if r.stdout != string(a) {
			t.Fatalf("a.bin in snapshot %s: %d bytes, want the original %d", id, len(r.stdout), len(a))
		}
	}
	e.must("gc")
	if r := e.run("check", "--read-data"); r.code != 4 || len(affected(r.stdout, e.src)) != 1 {
		t.Fatalf("after gc, want d.bin still the only affected file: %v", r)
	}
}

// TestSnapNoticesLostPack: a pack vanishes and nobody runs check. A new
// file shares bytes with one in the lost pack; the snapshot must not
// commit a reference to those chunks: it finds the pack missing, stores
// the bytes again, and every file of the new snapshot restores.
func TestSnapNoticesLostPack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := randomBytes(6000, 1)
	writeOld(t, filepath.Join(e.src, "a.bin"), a)
	writeOld(t, filepath.Join(e.src, "b.bin"), randomBytes(6000, 2))
	e.must("snap", e.src)
	deletePack(t, e.repo, storePacks(t, e.repo)[0])
	writeOld(t, filepath.Join(e.src, "copy-of-a.bin"), a)
	writeOld(t, filepath.Join(e.src, "c.bin"), randomBytes(6000, 3))
	e.must("snap", e.src)
	out := e.fresh("restore")
	e.must("restore", "--snapshot", "2", "--to", out, e.src)
	for _, name := range []string{"a.bin", "b.bin", "copy-of-a.bin", "c.bin"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		want, _ := os.ReadFile(filepath.Join(e.src, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s from snapshot 2: %v", name, err)
		}
	}
	e.must("check", "--read-data")
}

// TestCheckReadDataFooter: damage to a pack's footer or trailer leaves
// every chunk readable through the catalog, but the pack is no longer
// self-describing; check --read-data must report it.
func TestCheckReadDataFooter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	writeOld(t, filepath.Join(e.src, "a.bin"), randomBytes(6000, 1))
	writeOld(t, filepath.Join(e.src, "b.bin"), randomBytes(6000, 2))
	e.must("snap", e.src)
	for _, tc := range []struct {
		name   string
		damage func(p []byte)
	}{
		{"trailer magic", func(p []byte) { p[len(p)-1] ^= 0xff }},
		{"trailer count", func(p []byte) { p[len(p)-12] ^= 0x01 }},
		{"footer entry id", func(p []byte) {
			footerLen := int(uint32(p[len(p)-16]) | uint32(p[len(p)-15])<<8 | uint32(p[len(p)-14])<<16 | uint32(p[len(p)-13])<<24)
			p[len(p)-16-footerLen+3] ^= 0xff
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := e.fresh("repo")
			copyTree(t, e.repo, repo)
			name := storePacks(t, repo)[0]
			rewritePack(t, repo, name, tc.damage)
			if r := e.runIn(repo, "check"); r.code != 0 {
				t.Fatalf("plain check reads no footer, want ok: %v", r)
			}
			r := e.runIn(repo, "check", "--read-data")
			if r.code != 4 || !strings.Contains(r.stdout, "footer") || !strings.Contains(r.stdout, name) {
				t.Fatalf("check --read-data of a pack with a damaged %s: want exit 4 naming the pack's footer: %v", tc.name, r)
			}
		})
	}
}

// asNobody runs cairn as user nobody (tests run as root, who may write
// anywhere), or skips when setpriv cannot.
func asNobody(t *testing.T, e *env, repo string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	full := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", cairnBin, "--repo", repo}, args...)
	cmd := exec.CommandContext(ctx, "setpriv", full...)
	cmd.Env = append(os.Environ(), "HOME="+e.scratch, "XDG_DATA_HOME="+e.scratch, "CAIRN_REPO=")
	cmd.Dir = e.scratch
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState == nil {
		t.Fatalf("setpriv: %v", err)
	}
	r.code = cmd.ProcessState.ExitCode()
	assertNoPanic(t, r)
	return r
}

// openUp lets other users reach path: o+rx on it and on every directory
// above it that lacks it (test directories are made 0700).
func openUp(t *testing.T, path string) {
	t.Helper()
	for p := path; p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o005); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func listTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		fmt.Fprintf(&b, "%s %v %d %v\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	return b.String()
}

// TestReadOnlyRepository: a repository the user may read but not write
// (read-only media behaves the same: access(2) answers EROFS there).
// Every command that only reads works, nothing is created in the
// repository, and commands that write say the repository is read-only.
func TestReadOnlyRepository(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv is not installed: cannot run cairn as another user")
	}
	if os.Getuid() != 0 {
		t.Skip("switching to user nobody needs root")
	}
	e := newEnv(t)
	a := randomBytes(6000, 1)
	writeOld(t, filepath.Join(e.src, "a.bin"), a)
	writeOld(t, filepath.Join(e.src, "cron", "jobs.json"), []byte(`{"jobs": [1, 2]}`))
	e.must("snap", e.src)
	writeOld(t, filepath.Join(e.src, "b.bin"), randomBytes(6000, 2))
	e.must("snap", e.src)
	if err := exec.Command("chmod", "-R", "a+rX,a-w", e.repo).Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", e.repo).Run() })
	openUp(t, e.repo)
	openUp(t, e.src)
	openUp(t, cairnBin)
	if err := os.Chmod(e.scratch, 0o777); err != nil {
		t.Fatal(err)
	}
	if r := asNobody(t, e, e.repo, "version"); r.code != 0 {
		t.Skipf("cannot run cairn as nobody here: %v", r)
	}
	before := listTree(t, e.repo)
	out := filepath.Join(e.scratch, "restored")
	for _, args := range [][]string{
		{"snapshots"}, {"ls", "--snapshot", "1", e.src}, {"log", filepath.Join(e.src, "a.bin")},
		{"cat", filepath.Join(e.src, "a.bin")}, {"sql", "SELECT count(*) FROM files"}, {"diff", "1", "2"},
		{"check"}, {"check", "--read-data"}, {"restore", "--snapshot", "2", "--to", out, e.src},
	} {
		r := asNobody(t, e, e.repo, args...)
		if r.code != 0 {
			t.Errorf("read-only repository: %v", r)
		}
		if args[0] == "cat" && r.stdout != string(a) {
			t.Errorf("cat printed %d bytes, want %d", len(r.stdout), len(a))
		}
	}
	if got, err := os.ReadFile(filepath.Join(out, "a.bin")); err != nil || !bytes.Equal(got, a) {
		t.Errorf("restore --to from a read-only repository: %v", err)
	}
	for _, args := range [][]string{{"snap", e.src}, {"gc"}, {"forget", "--keep-last", "1"}} {
		assertOneLineError(t, asNobody(t, e, e.repo, args...), 1, "read-only")
	}
	if after := listTree(t, e.repo); after != before {
		t.Errorf("reading a read-only repository changed it:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestForeignWALCatalog: a WAL-mode SQLite file of another program (its
// application_id left 0, as most are) named catalog.db. Every command
// refuses it, and nothing appears beside it: not even a read-only SQLite
// open may happen, since that creates -wal and -shm.
func TestForeignWALCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := os.MkdirAll(e.repo, 0o755); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(e.repo, "catalog.db") // at the top: a format-1 layout
	db, err := sql.Open("sqlite3", "file:"+cat+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES ('mine')"); err != nil {
		t.Fatal(err)
	}
	db.Close() // checkpoints and removes -wal and -shm
	writeOld(t, filepath.Join(e.src, "a.txt"), []byte("a"))
	before := listTree(t, e.repo)
	for _, args := range [][]string{{"snapshots"}, {"check"}, {"gc"}, {"snap", e.src}, {"init"}, {"sql", "SELECT 1"}} {
		r := e.run(args...)
		assertOneLineError(t, r, 1, "another program")
		if after := listTree(t, e.repo); after != before {
			t.Fatalf("cairn %s changed the foreign database's directory:\nbefore:\n%s\nafter:\n%s", args[0], before, after)
		}
	}
}
