// Package beneath opens files below a directory without ever following a
// symbolic link, so a path that was a plain file when a walk listed it
// cannot lead a read outside that directory when a parent is swapped for a
// symlink in between (O_NOFOLLOW guards only the last component).
//
// On Linux 5.6 and later every open is one openat2(2) call with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS; elsewhere (or where a seccomp filter
// refuses openat2) the path is walked one component at a time with
// openat(O_NOFOLLOW), which gives the same guarantee at a few more system
// calls per file.
package beneath

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrNotRegular reports that a path opened for reading is not a regular
// file (a FIFO, socket or device swapped in since it was listed). Reading
// one could block for ever.
var ErrNotRegular = errors.New("beneath: not a regular file")

// Dir is an open directory that paths are resolved beneath.
type Dir struct {
	f    *os.File
	path string
}

// Open opens the directory at path, the trusted starting point: give it
// with symlinks resolved (its last component must not be one, so that a
// directory swapped for a symlink since it was resolved is refused).
func Open(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

// Path is the path the directory was opened by.
func (d *Dir) Path() string { return d.path }

// Fd is the directory's descriptor, for *at system calls.
func (d *Dir) Fd() int { return int(d.f.Fd()) }

// ReadDir lists the directory. The entries' types come from the listing;
// stat them with Fstatat on Fd, never by path.
func (d *Dir) ReadDir() ([]os.DirEntry, error) { return d.f.ReadDir(-1) }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// OpenFile opens the regular file at rel ('/'-separated, relative to d)
// for reading. It never blocks (O_NONBLOCK, cleared once the file is known
// to be regular) and refuses anything but a regular file with
// ErrNotRegular. A symlink anywhere on the way fails with ELOOP, a path
// that would climb out of d with EXDEV.
func (d *Dir) OpenFile(rel string) (*os.File, error) {
	f, err := d.open(rel, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(f, &st); err != nil {
		unix.Close(f)
		return nil, d.pathError("stat", rel, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(f)
		return nil, d.pathError("open", rel, ErrNotRegular)
	}
	// Regular files never block; clearing the flag keeps the file out of
	// the runtime's poller, like any file os.Open returns.
	if err := unix.SetNonblock(f, false); err != nil {
		unix.Close(f)
		return nil, d.pathError("open", rel, err)
	}
	return os.NewFile(uintptr(f), d.join(rel)), nil
}

// OpenFd opens the regular file at rel beneath d as a raw descriptor,
// with what fstat said of it: the fewest system calls per file (an
// os.File costs three fcntl calls more), for callers that read small
// files whole. The descriptor is non-blocking, which regular files
// ignore; the caller closes it.
func (d *Dir) OpenFd(rel string, st *unix.Stat_t) (int, error) {
	fd, err := d.open(rel, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return -1, err
	}
	if err := unix.Fstat(fd, st); err != nil {
		unix.Close(fd)
		return -1, d.pathError("stat", rel, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, d.pathError("open", rel, ErrNotRegular)
	}
	return fd, nil
}

// OpenFdUnchecked is OpenFd without the fstat, for a caller that fstats
// the descriptor itself after reading and refuses what is not a regular
// file then (ErrNotRegular): one system call fewer per file. Until that
// check the descriptor may be anything the path names (a FIFO or device
// opened non-blocking); the caller closes it.
func (d *Dir) OpenFdUnchecked(rel string) (int, error) {
	return d.open(rel, unix.O_RDONLY|unix.O_NONBLOCK)
}

// OpenDir opens the directory at rel (relative to d, "." for d itself)
// beneath d, following no symlink.
func (d *Dir) OpenDir(rel string) (*Dir, error) {
	f, err := d.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return &Dir{f: os.NewFile(uintptr(f), d.join(rel)), path: d.join(rel)}, nil
}

func (d *Dir) join(rel string) string {
	switch {
	case rel == "." || rel == "":
		return d.path
	case strings.HasSuffix(d.path, "/"):
		return d.path + rel
	}
	return d.path + "/" + rel
}

func (d *Dir) pathError(op, rel string, err error) error {
	return &os.PathError{Op: op, Path: d.join(rel), Err: err}
}

// noOpenat2 is set once openat2 turned out to be missing, so later opens
// go straight to the fallback.
var noOpenat2 atomic.Bool

func (d *Dir) open(rel string, flags int) (int, error) {
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	if rel == "" {
		rel = "."
	}
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
		for {
			fd, err := unix.Openat2(d.Fd(), rel, &how)
			switch {
			case err == nil:
				return fd, nil
			case err == unix.EINTR || err == unix.EAGAIN:
				continue // EAGAIN: a concurrent rename raced the lookup
			case err == unix.ENOSYS || err == unix.EPERM:
				// No openat2 (kernel < 5.6), or a sandbox that forbids it.
				noOpenat2.Store(true)
			default:
				return -1, d.pathError("open", rel, err)
			}
			break
		}
	}
	return d.walkOpen(rel, flags)
}

// walkOpen resolves rel one component at a time, each opened with
// O_NOFOLLOW relative to the one before.
func (d *Dir) walkOpen(rel string, flags int) (int, error) {
	parts := strings.Split(rel, "/")
	cur := d.Fd()
	closeCur := func() {
		if cur != d.Fd() {
			unix.Close(cur)
		}
	}
	for i, p := range parts {
		if p == ".." {
			closeCur()
			return -1, d.pathError("open", rel, unix.EXDEV)
		}
		last := i == len(parts)-1
		if p == "" || p == "." {
			if !last {
				continue
			}
			p = "."
		}
		fl := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if last {
			fl = flags
		}
		fd, err := openatRetry(cur, p, fl)
		closeCur()
		if err != nil {
			if err == unix.ENOTDIR && !last {
				// A parent that is now a symlink fails O_DIRECTORY with
				// ENOTDIR under O_NOFOLLOW; say what openat2 says.
				var st unix.Stat_t
				if unix.Fstatat(d.Fd(), strings.Join(parts[:i+1], "/"), &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
					st.Mode&unix.S_IFMT == unix.S_IFLNK {
					err = unix.ELOOP
				}
			}
			return -1, d.pathError("open", rel, err)
		}
		cur = fd
	}
	return cur, nil
}

func openatRetry(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
