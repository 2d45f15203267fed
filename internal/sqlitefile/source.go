package sqlitefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/internal/beneath"
)

// source is a database being copied: its directory and the database file,
// both opened beneath the caller's directory without following symlinks.
//
// SQLite opens files by name, and resolves every symlink on the way to
// it, so handed the database's path it could be led outside by a parent
// directory swapped for a symlink in between. It is handed instead a name
// beneath the directory's descriptor, /proc/self/fd/N/name (see
// pinned.go): the kernel follows that link to the directory the
// descriptor holds, not to whatever its path names now, and SQLite
// derives the -wal, -shm and -journal names from it, so they too are
// looked up in that very directory.
type source struct {
	path   string // for messages: the path the database was opened by
	parent *beneath.Dir
	name   string
	db     *os.File
	dbStat unix.Stat_t
	// sqlite is what SQLite is given: the pinned name, or path where
	// /proc/self/fd cannot be used (not Linux); vfs is the VFS for it.
	sqlite, vfs string
}

func openSource(dir *beneath.Dir, rel string) (*source, error) {
	parentRel, name := path.Split(rel)
	if parentRel == "" {
		parentRel = "."
	}
	parent, err := dir.OpenDir(parentRel)
	if err != nil {
		return nil, err
	}
	db, err := parent.OpenFile(name)
	if err != nil {
		parent.Close()
		return nil, err
	}
	s := &source{path: db.Name(), parent: parent, name: name, db: db, sqlite: db.Name()}
	if err := unix.Fstat(int(db.Fd()), &s.dbStat); err != nil {
		s.close()
		return nil, fmt.Errorf("stat %s: %w", s.path, err)
	}
	if p, ok := pinnedName(parent, name); ok {
		s.sqlite, s.vfs = p, pinnedVFS
	}
	return s, nil
}

// pinnedName returns /proc/self/fd/N/name for the directory's descriptor
// N, when that leads to the directory itself (procfs is mounted, and this
// is Linux) and the VFS that keeps such names as they are is registered.
func pinnedName(dir *beneath.Dir, name string) (string, bool) {
	if registerPinned() != nil {
		return "", false
	}
	fdDir := "/proc/self/fd/" + strconv.Itoa(dir.Fd())
	var byFd, st unix.Stat_t
	if unix.Stat(fdDir, &byFd) != nil || unix.Fstat(dir.Fd(), &st) != nil || byFd.Dev != st.Dev || byFd.Ino != st.Ino {
		return "", false
	}
	return fdDir + "/" + name, true
}

// dsn names the database for a read-only SQLite connection.
func (s *source) dsn(busy time.Duration, immutable bool) string {
	q := readOnlyQuery(busy, immutable)
	if s.vfs != "" {
		q += "&vfs=" + s.vfs
	}
	return uri(s.sqlite, q)
}

func (s *source) close() {
	s.db.Close()
	s.parent.Close()
}

// header returns up to the first 100 bytes of the database.
func (s *source) header() ([]byte, error) {
	b := make([]byte, headerSize)
	n, err := s.db.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// stat stats the database's name plus suffix in its directory, following
// no symlink.
func (s *source) stat(suffix string) (unix.Stat_t, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstatat(s.parent.Fd(), s.name+suffix, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			return st, err
		}
	}
}

// exists reports whether the sidecar with suffix exists (or cannot be told
// not to).
func (s *source) exists(suffix string) bool {
	_, err := s.stat(suffix)
	return err == nil || err != unix.ENOENT
}

// walMode reports whether the header says the database is in WAL mode.
func walMode(hdr []byte) bool { return len(hdr) >= headerSize && (hdr[18] == 2 || hdr[19] == 2) }

// quiet records the state of a WAL-mode database file that has no -wal file,
// so that a lock-free read of it can be verified afterwards.
type quiet struct {
	src   *source
	st    unix.Stat_t
	quiet bool // unmodified for at least quietFor before the read
}

// quietWAL reports whether the database, whose header is hdr, can be read
// without locks (SQLite's immutable mode) instead of with a read-only
// connection, which on a WAL-mode database creates -wal and -shm files beside
// it and cannot remove them afterwards. That holds for a WAL-mode database
// with neither -wal nor -journal file: all committed data is in the main
// file. If needQuiet, the file must also have gone unmodified for quietFor, so
// that any write during the read changes its modification time.
func (s *source) quietWAL(hdr []byte, needQuiet bool) (*quiet, bool) {
	if !walMode(hdr) || s.exists("-wal") || s.exists("-journal") {
		return nil, false
	}
	st, err := s.stat("")
	if err != nil || st.Dev != s.dbStat.Dev || st.Ino != s.dbStat.Ino {
		return nil, false
	}
	age := time.Since(time.Unix(0, st.Mtim.Nano()))
	q := &quiet{src: s, st: st, quiet: age >= quietFor}
	if needQuiet && !q.quiet {
		return nil, false
	}
	return q, true
}

// unchanged reports whether the file is still the one recorded, with the
// same size and modification time, and still has no -wal or -journal file.
func (q *quiet) unchanged() bool {
	if q.src.exists("-wal") || q.src.exists("-journal") {
		return false
	}
	st, err := q.src.stat("")
	return err == nil && sameStat(&st, &q.st)
}

func sameStat(a, b *unix.Stat_t) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Size == b.Size && a.Mtim == b.Mtim && a.Ctim == b.Ctim
}

// verify checks, once SQLite has the database open, that the name it
// opened still leads to the file s opened: SQLite looked the name up
// again, and a database replaced in between (within the directory: the
// directory itself is pinned) is not the one whose header was read.
// It is checked after SQLite's open, so a file replaced before it shows;
// one replaced and put back in between is the same file again.
func (s *source) verify() error {
	st, err := s.stat("")
	if err != nil || st.Dev != s.dbStat.Dev || st.Ino != s.dbStat.Ino {
		return fmt.Errorf("read %s: %w", s.path, ErrMoved)
	}
	return nil
}

// copyFiles copies the database, and its -journal and -wal if they exist,
// to scratch (and scratch-journal, scratch-wal). stable is false when the
// database changed meanwhile (then the copy may mix two states). Sidecars
// that exist but cannot be read are listed in unreadable.
func (s *source) copyFiles(ctx context.Context, scratch string) (recovered string, unreadable []string, stable bool, err error) {
	for _, p := range append([]string{scratch}, Sidecars(scratch)...) {
		os.Remove(p)
	}
	if err := copyFile(ctx, s.db, scratch); err != nil {
		return "", nil, false, err
	}
	for _, suffix := range []string{"-journal", "-wal"} {
		f, err := s.parent.OpenFile(s.name + suffix)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			unreadable = append(unreadable, suffix)
			continue
		}
		err = copyFile(ctx, f, scratch+suffix)
		f.Close()
		if err != nil {
			return "", nil, false, err
		}
		recovered = suffix
	}
	var now unix.Stat_t
	if err := unix.Fstat(int(s.db.Fd()), &now); err != nil {
		return "", nil, false, fmt.Errorf("stat %s: %w", s.path, err)
	}
	byName, err := s.stat("")
	stable = err == nil && sameStat(&now, &s.dbStat) && sameStat(&byName, &s.dbStat)
	s.dbStat = now
	return recovered, unreadable, stable, nil
}

// copyFile copies all of f to a new file at dst, stopping when ctx ends.
func copyFile(ctx context.Context, f *os.File, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	_, err = io.Copy(out, ctxReader{ctx, io.NewSectionReader(f, 0, 1<<62)})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", f.Name(), dst, err)
	}
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
