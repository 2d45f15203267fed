// Package atomicfile makes a file durable in one step that a crash cannot
// tear: write a temp file beside the target, fsync it, rename it over the
// target, fsync the directory. Readers see the old file or the new one,
// never a mix, and after the sequence completes the new one survives power
// loss.
//
// Write does all of it for one file. For many files, Stage writes each
// temp file without a sync, FS.Sync makes all of them durable at once,
// Commit renames each, and a last FS.Sync makes the renames durable: the
// same guarantee with two syncs instead of two per file.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TempPrefix starts the names of temp files, so a crashed run's leftovers
// are recognisable.
const TempPrefix = ".cairn-tmp-"

// Options control the new file.
type Options struct {
	Mode fs.FileMode
	// Mtime, if set, is given to the file before it replaces the target.
	Mtime time.Time
	// Check runs on the complete temp file (by its name under the root)
	// before it replaces the target; an error abandons the write.
	Check func(tempName string) error
	// Owner, if set, is given to the file (before its mode, since a chown
	// clears setuid and setgid).
	Owner *Owner
	// BeforeRename runs just before the rename (e.g. to remove a stale
	// database -wal that must not be replayed over the new file).
	BeforeRename func() error
}

// Owner is a file's user and group ids.
type Owner struct{ UID, GID int }

// Write creates or replaces name (slash-separated, inside root) with what
// fill writes, durably. On any error the target is untouched and the temp
// removed.
func Write(root *os.Root, name string, opts Options, fill func(w io.Writer) error) error {
	s, err := Stage(root, name, opts, true, fill)
	if err != nil {
		return err
	}
	if err := s.Commit(); err != nil {
		return err
	}
	return SyncDir(root, path.Dir(name))
}

// Staged is a complete temp file waiting to replace its target.
type Staged struct {
	root      *os.Root
	dirfd     int // StageIn's directory; -1 for Stage's root
	tmp, name string
	opts      Options
}

// Stage writes what fill writes to a temp file beside name, sets its mode
// and mtime, fsyncs it when sync is set (otherwise the caller must FS.Sync
// before Commit), and runs opts.Check.
func Stage(root *os.Root, name string, opts Options, sync bool, fill func(w io.Writer) error) (*Staged, error) {
	tmp := path.Join(path.Dir(name), TempPrefix+randomSuffix())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create temp file for %s: %w", name, err)
	}
	s := &Staged{root: root, dirfd: -1, tmp: tmp, name: name, opts: opts}
	err = func() error {
		if err := fill(f); err != nil {
			return err
		}
		if opts.Owner != nil {
			if err := f.Chown(opts.Owner.UID, opts.Owner.GID); err != nil {
				return fmt.Errorf("chown %s: %w", name, err)
			}
		}
		if err := f.Chmod(opts.Mode.Perm() | opts.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("chmod %s: %w", name, err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("sync %s: %w", name, err)
			}
		}
		return nil
	}()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", name, cerr)
	}
	if err == nil && !opts.Mtime.IsZero() {
		if err = root.Chtimes(tmp, opts.Mtime, opts.Mtime); err != nil {
			err = fmt.Errorf("set times of %s: %w", name, err)
		}
	}
	if err == nil && opts.Check != nil {
		err = opts.Check(tmp)
	}
	if err != nil {
		s.Abort()
		return nil, err
	}
	return s, nil
}

// Commit renames the temp file over the target. The rename is durable
// after SyncDir of its directory or an FS.Sync.
func (s *Staged) Commit() error {
	if s.opts.BeforeRename != nil {
		if err := s.opts.BeforeRename(); err != nil {
			s.Abort()
			return err
		}
	}
	var err error
	if s.dirfd >= 0 {
		err = unix.Renameat(s.dirfd, s.tmp, s.dirfd, s.name)
	} else {
		err = s.root.Rename(s.tmp, s.name)
	}
	if err != nil {
		s.Abort()
		return fmt.Errorf("rename into %s: %w", s.name, err)
	}
	return nil
}

// Abort removes the temp file.
func (s *Staged) Abort() {
	if s.dirfd >= 0 {
		unix.Unlinkat(s.dirfd, s.tmp, 0)
		return
	}
	s.root.Remove(s.tmp)
}

// StageIn is Stage for a file directly in the directory dir (name has no
// slash), through raw system calls on the directory's descriptor: openat,
// the writes, fchown (with Owner), fchmod, fsync (with sync), close,
// utimensat (with Mtime), and renameat at Commit. Stage's os.Root and
// os.File cost seven calls more per file (fcntl four times, an epoll
// registration that fails, a readlink and an lstat that fail): a restore
// of 10,000 small files made 13 calls per file, and restores of many
// small files spent most of their CPU in the kernel. The guarantees are
// Stage's; dir must stay open until Commit or Abort.
func StageIn(dir *os.File, name string, opts Options, sync bool, fill func(w io.Writer) error) (*Staged, error) {
	dirfd := int(dir.Fd())
	tmp := TempPrefix + randomSuffix()
	if err := writeAt(dirfd, tmp, name, opts, sync, fill); err != nil {
		return nil, err
	}
	return &Staged{dirfd: dirfd, tmp: tmp, name: name, opts: opts}, nil
}

// CreateIn writes a new file name directly in dir, with StageIn's calls
// but no temp name and no rename: for a staging directory that no reader
// sees until the caller has synced it and moved it into place as a whole.
// The file must not exist. On any error it is removed. opts.BeforeRename
// is not run (there is no rename).
func CreateIn(dir *os.File, name string, opts Options, fill func(w io.Writer) error) error {
	return writeAt(int(dir.Fd()), name, name, opts, false, fill)
}

// writeAt creates file (named target in errors) in dirfd and does the
// rest of StageIn's steps; on error file is removed.
func writeAt(dirfd int, file, target string, opts Options, sync bool, fill func(w io.Writer) error) error {
	// Created with its permissions where the umask leaves them whole and
	// nothing (an owner, a set-id bit) must come first: the fchmod is
	// then one call per file saved.
	createMode, chmod := uint32(0o600), true
	if perm := uint32(opts.Mode.Perm()); opts.Owner == nil && opts.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) == 0 {
		if mask, ok := umask(); ok && perm&mask == 0 {
			createMode, chmod = perm, false
		}
	}
	var fd int
	var err error
	for {
		fd, err = unix.Openat(dirfd, file, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, createMode)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if file == target {
			return fmt.Errorf("create %s: %w", target, err)
		}
		return fmt.Errorf("create temp file for %s: %w", target, err)
	}
	err = func() error {
		if err := fill(File{fd}); err != nil {
			return err
		}
		if !opts.Mtime.IsZero() {
			// Through the descriptor, after the last write: no path
			// lookup, and no write can change it afterwards.
			if err := futimens(fd, opts.Mtime); err != nil {
				return fmt.Errorf("set times of %s: %w", target, err)
			}
		}
		if opts.Owner != nil {
			if err := unix.Fchown(fd, opts.Owner.UID, opts.Owner.GID); err != nil {
				return fmt.Errorf("chown %s: %w", target, err)
			}
		}
		if chmod {
			if err := unix.Fchmod(fd, unixMode(opts.Mode)); err != nil {
				return fmt.Errorf("chmod %s: %w", target, err)
			}
		}
		if sync {
			if err := unix.Fsync(fd); err != nil {
				return fmt.Errorf("sync %s: %w", target, err)
			}
		}
		return nil
	}()
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", target, cerr)
	}
	if err == nil && opts.Check != nil {
		err = opts.Check(file)
	}
	if err != nil {
		unix.Unlinkat(dirfd, file, 0)
		return err
	}
	return nil
}

// futimens sets the access and modification times of an open file
// (utimensat(2) with a NULL path: x/sys/unix only passes a path).
func futimens(fd int, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	times := [2]unix.Timespec{ts, ts}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&times[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// umask is the process's file mode creation mask, read once from
// /proc/self/status (umask(2) can only read it by changing it, which
// would race with other goroutines creating files). ok is false where
// it cannot be read.
var umask = sync.OnceValues(func() (uint32, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(l, "Umask:"); found {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return uint32(m), err == nil
		}
	}
	return 0, false
})

// unixMode is a file mode's permission and set-id/sticky bits as chmod(2)
// takes them.
func unixMode(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		b |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		b |= unix.S_ISVTX
	}
	return b
}

// File writes to a raw descriptor; it can leave holes (Seek) and set its
// size (Truncate), as an *os.File can.
type File struct{ fd int }

func (f File) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := unix.Write(f.fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// Seek moves the write offset.
func (f File) Seek(offset int64, whence int) (int64, error) { return unix.Seek(f.fd, offset, whence) }

// StartWriteback starts writing the file's dirty pages to disk without
// waiting (sync_file_range SYNC_FILE_RANGE_WRITE over the whole file): a
// big file written this way as it grows finds little left to write at its
// fsync. It proves nothing durable; the fsync or syncfs still does.
func (f File) StartWriteback() error {
	return unix.SyncFileRange(f.fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}

// Truncate sets the file's size.
func (f File) Truncate(size int64) error { return unix.Ftruncate(f.fd, size) }

// SyncDir fsyncs a directory so a rename or removal in it is durable.
func SyncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// FS syncs the filesystem of a root (syncfs(2)) through one descriptor.
// Open it before writing the files it must make durable: Linux reports a
// write-back error to a descriptor only if the descriptor was opened before
// the error, and only once per descriptor, so a caller that syncs more than
// once must keep the first error.
type FS struct {
	d    *os.File
	name string
}

// OpenFS opens root's filesystem for Sync.
func OpenFS(root *os.Root) (*FS, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root.Name(), err)
	}
	return &FS{d: d, name: root.Name()}, nil
}

// Sync makes everything written to the filesystem durable.
func (f *FS) Sync() error {
	if err := unix.Syncfs(int(f.d.Fd())); err != nil {
		return fmt.Errorf("sync filesystem of %s: %w", f.name, err)
	}
	return nil
}

// Close releases the descriptor.
func (f *FS) Close() error { return f.d.Close() }

// RandomSuffix is a random hex string for a temp name.
func RandomSuffix() string { return randomSuffix() }

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
