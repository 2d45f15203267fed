package main

import (
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/internal/keycache"
	"github.com/cairn-dev/cairn/internal/s3test"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the cmp files of failing scripts with the actual output")

func TestMain(m *testing.M) {
	// Files unpacked from the scripts, and everything cairn writes, get the
	// same modes on every machine.
	syscall.Umask(0o022)
	// The binary's key cache goes to a keyring of this test process's own
	// (gone when it ends), never the user's; each script gets its own
	// (setup). The scripts' commands, run as children, have it already.
	if os.Getenv("CAIRN_TEST_KEYRING") == "" {
		os.Setenv("CAIRN_TEST_KEYRING", privateKeyring("cairn-cmd-test"))
	}
	testscript.Main(m, map[string]func(){
		"cairn": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: each is a
// user's session with the real CLI on real files (see testscript's docs).
//
// Scripts that need an S3 server start with [!s3] skip: one versitygw
// (internal/s3test) serves them all, each script under its own prefix,
// given as $S3REPO (s3://bucket/prefix) with $CAIRN_S3_ENDPOINT and the
// AWS credentials set.
func TestScripts(t *testing.T) {
	srv := scriptS3(t)
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			if err := setup(env); err != nil {
				return err
			}
			if srv != nil {
				for _, kv := range srv.Env() {
					k, v, _ := strings.Cut(kv, "=")
					env.Setenv(k, v)
				}
				env.Setenv("CAIRN_S3_ENDPOINT", srv.Endpoint)
				env.Setenv("S3REPO", "s3://"+srv.Bucket+"/"+s3test.Prefix())
				env.Setenv("S3REPLICA", "s3://"+srv.Bucket+"/"+s3test.Prefix())
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "s3" {
				return srv != nil, nil
			}
			if cond == "keyring" {
				return hasKeyring(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":      cmdStatus,
			"backdate":    cmdBackdate,
			"perm":        cmdPerm,
			"flipbyte":    cmdFlipbyte,
			"mksock":      cmdMksock,
			"mksqlite":    cmdMksqlite,
			"sqlitecount": cmdSqlitecount,
			"sqlexec":     cmdSqlexec,
			"writeq":      cmdWriteq,
			"jsonschema":  cmdJSONSchema,
			"swapfiles":   cmdSwapfiles,
			"rmglob":      cmdRmglob,
			"cachedkeys":  cmdCachedkeys,
		},
	})
}

// scriptS3 starts the scripts' S3 server, or returns nil when its binary
// is missing (except in CI, where s3test fails the test instead).
func scriptS3(t *testing.T) *s3test.Server {
	bin, err := s3test.VersityPath()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil && os.Getenv("CI") != "true" {
		t.Logf("no S3 server for the scripts (%v): run make s3-servers", err)
		return nil
	}
	return s3test.Versity(t)
}

func setup(env *testscript.Env) error {
	// cairn records sources with symlinks resolved; so does $WORK, so that
	// scripts can match cairn's output against it.
	work, err := filepath.EvalSymlinks(env.WorkDir)
	if err != nil {
		return err
	}
	env.Vars[0] = "WORK=" + work // testscript keeps WORK first
	env.Cd = work
	env.Setenv("CAIRN_REPO", filepath.Join(work, "repo"))
	env.Setenv("HOME", filepath.Join(work, "home"))
	env.Setenv("CAIRN_NO_PROGRESS", "1")
	if env.Getenv("TZ") == "" {
		// Tables print local time; scripts see UTC unless they set TZ.
		env.Setenv("TZ", "UTC")
	}
	ring := privateKeyring("cairn-script-" + filepath.Base(work))
	env.Setenv("CAIRN_TEST_KEYRING", ring)
	env.Defer(func() {
		if id, err := strconv.Atoi(ring); err == nil && id > 0 {
			keycache.Serial(id).Close()
		}
	})
	if env.Getenv("GORACE") == "" {
		// A race-enabled binary otherwise sleeps 1s at every exit.
		env.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	return os.MkdirAll(filepath.Join(work, "home"), 0o755)
}

// privateKeyring makes a keyring for the binary's key cache and returns
// its serial for $CAIRN_TEST_KEYRING: "0" (no keyring, the cache off)
// where the kernel has none to give.
func privateKeyring(name string) string {
	r, err := keycache.NewPrivate(name)
	if err != nil {
		return "0"
	}
	return strconv.Itoa(r.Serial())
}

// hasKeyring reports whether the kernel gives this process keyrings
// (a container's seccomp filter may refuse keyctl).
func hasKeyring() bool {
	r, err := keycache.NewPrivate("cairn-probe")
	if err != nil {
		return false
	}
	r.Close()
	return true
}

// cachedkeys N requires the script's key cache to hold N entries.
func cmdCachedkeys(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: cachedkeys N")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("cachedkeys: %v", err)
	}
	id, _ := strconv.Atoi(ts.Getenv("CAIRN_TEST_KEYRING"))
	if id <= 0 {
		ts.Fatalf("cachedkeys: no kernel keyring here")
	}
	names, err := keycache.Serial(id).Names("cairn:")
	ts.Check(err)
	if len(names) != want {
		ts.Fatalf("the key cache holds %d entries (%q); want %d", len(names), names, want)
	}
}

// status N program [args...] runs program like exec and requires exit
// status N; stdout and stderr are kept for the next assertions.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// backdated is the mtime backdate gives files: long enough ago that cairn
// trusts their stat (it re-reads files modified within 2s of a snapshot's
// start), and fixed so that listings are the same on every run.
var backdated = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// backdate path... sets the access and modification times of each path,
// and of everything below a directory, to 2024-01-02T03:04:05Z. Symlinks
// are left alone.
func cmdBackdate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: backdate path...")
	}
	for _, p := range args {
		ts.Check(filepath.WalkDir(ts.MkAbs(p), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			return os.Chtimes(path, backdated, backdated)
		}))
	}
}

// perm path mode asserts a file's permission bits (octal).
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm path mode")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); (uint64(got) == want) == neg {
		ts.Fatalf("%s has mode %04o; want %s%04o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// flipbyte glob offset inverts one byte of the one file matching glob.
func cmdFlipbyte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte glob offset")
	}
	off, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	f, err := os.OpenFile(globOne(ts, args[0]), os.O_RDWR, 0)
	ts.Check(err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	ts.Check(err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	ts.Check(err)
}

// globOne is the one file matching glob.
func globOne(ts *testscript.TestScript, glob string) string {
	files, err := filepath.Glob(ts.MkAbs(glob))
	ts.Check(err)
	if len(files) != 1 {
		ts.Fatalf("%s matches %d files, want 1", glob, len(files))
	}
	return files[0]
}

// swapfiles glob swaps the contents of the last two files matching glob
// in name order (the two newest log records trading places).
func cmdSwapfiles(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: swapfiles glob")
	}
	files, err := filepath.Glob(ts.MkAbs(args[0]))
	ts.Check(err)
	if len(files) < 2 {
		ts.Fatalf("%s matches %d files, want 2 or more", args[0], len(files))
	}
	a, b := files[len(files)-2], files[len(files)-1]
	ba, err := os.ReadFile(a)
	ts.Check(err)
	bb, err := os.ReadFile(b)
	ts.Check(err)
	ts.Check(os.WriteFile(a, bb, 0o600))
	ts.Check(os.WriteFile(b, ba, 0o600))
}

// rmglob glob N removes the Nth file matching glob in name order (from
// the end when N is negative: -2 is the one before the last).
func cmdRmglob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: rmglob glob N")
	}
	files, err := filepath.Glob(ts.MkAbs(args[0]))
	ts.Check(err)
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	if n < 0 {
		n += len(files)
	}
	if n < 0 || n >= len(files) {
		ts.Fatalf("%s matches %d files, no file %s", args[0], len(files), args[1])
	}
	ts.Check(os.Remove(files[n]))
}

// mksock path leaves a Unix socket at path.
func cmdMksock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mksock path")
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: ts.MkAbs(args[0]), Net: "unix"})
	ts.Check(err)
	l.SetUnlinkOnClose(false)
	ts.Check(l.Close())
}

// mksqlite path rows creates a WAL-mode database whose table items has
// rows rows, and keeps it open until the script ends, as a running
// program would: the rows stay in path-wal, not yet checkpointed.
func cmdMksqlite(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mksqlite path rows")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	db, err := sql.Open("sqlite3", "file:"+ts.MkAbs(args[0])+"?_journal_mode=WAL")
	ts.Check(err)
	ts.Defer(func() { db.Close() })
	db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA wal_autocheckpoint = 0", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"} {
		_, err = db.Exec(q)
		ts.Check(err)
	}
	tx, err := db.Begin()
	ts.Check(err)
	for i := 1; i <= n; i++ {
		_, err = tx.Exec("INSERT INTO items (id, name) VALUES (?, ?)", i, fmt.Sprintf("item %04d with some padding to fill pages", i))
		ts.Check(err)
	}
	ts.Check(tx.Commit())
}

// sqlitecount path table want opens a database, requires PRAGMA
// integrity_check to say ok and table to hold want rows.
func cmdSqlitecount(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: sqlitecount path table want")
	}
	db, err := sql.Open("sqlite3", "file:"+ts.MkAbs(args[0])+"?mode=ro")
	ts.Check(err)
	defer db.Close()
	var check string
	ts.Check(db.QueryRow("PRAGMA integrity_check").Scan(&check))
	if check != "ok" {
		ts.Fatalf("%s: integrity_check: %s", args[0], check)
	}
	var n int
	ts.Check(db.QueryRow(`SELECT count(*) FROM "` + args[1] + `"`).Scan(&n))
	if strconv.Itoa(n) != args[2] {
		ts.Fatalf("%s: %s has %d rows, want %s", args[0], args[1], n, args[2])
	}
}

// sqlexec path statement runs one statement on a database (path may be a
// glob that matches one file, as a catalog in the cache), e.g. to make
// a catalog look as if a newer cairn wrote it.
func cmdSqlexec(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sqlexec path statement")
	}
	db, err := sql.Open("sqlite3", "file:"+globOne(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	_, err = db.Exec(args[1])
	ts.Check(err)
}

// writeq VAR path content writes content to a file whose path is written
// with Go escapes (\x1b, \n, \xff), for names a script archive cannot
// hold, making parent directories as needed; $VAR is set to the path, so
// later commands can name it.
func cmdWriteq(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: writeq VAR path content")
	}
	name, err := strconv.Unquote(`"` + args[1] + `"`)
	ts.Check(err)
	ts.Check(os.MkdirAll(filepath.Dir(ts.MkAbs(name)), 0o755))
	ts.Check(os.WriteFile(ts.MkAbs(name), []byte(args[2]), 0o644))
	ts.Setenv(args[0], name)
}
