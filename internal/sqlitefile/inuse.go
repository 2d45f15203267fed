package sqlitefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// InUse reports whether another process appears to have the database at path
// open. It is best effort: on Linux it scans /proc/*/fd for descriptors
// linking to path or to its -wal or -shm file, skipping the calling process
// and processes whose descriptors it may not read. Elsewhere it returns an
// error wrapping errors.ErrUnsupported, so that a caller deciding whether a
// database may be replaced does not mistake "cannot tell" for "not in use".
func InUse(path string) (bool, error) {
	if runtime.GOOS != "linux" {
		return false, fmt.Errorf("scan open files of %s: %w", path, errors.ErrUnsupported)
	}
	return scanProc("/proc", os.Getpid(), path)
}

// scanProc looks through proc (a procfs mount) for a process other than skip
// with a descriptor open on path or its -wal or -shm file.
func scanProc(proc string, skip int, path string) (bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, fmt.Errorf("scan open files of %s: %w", path, err)
	}
	targets := map[string]bool{}
	add := func(p string) {
		targets[p] = true
		targets[p+"-wal"] = true
		targets[p+"-shm"] = true
	}
	add(abs)
	// The kernel reports the path a file was reached by after resolving
	// symbolic links, and SQLite names its -wal and -shm files after the
	// resolved database path too.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		add(real)
	}

	d, err := os.Open(proc)
	if err != nil {
		return false, fmt.Errorf("scan open files of %s: %w", path, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return false, fmt.Errorf("scan open files of %s: %w", path, err)
	}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == skip {
			continue
		}
		fdDir := filepath.Join(proc, name, "fd")
		fd, err := os.Open(fdDir)
		if err != nil {
			continue // exited, or not ours to read
		}
		fds, err := fd.Readdirnames(-1)
		fd.Close()
		if err != nil {
			continue
		}
		for _, n := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, n))
			if err != nil {
				continue
			}
			if targets[link] {
				return true, nil
			}
		}
	}
	return false, nil
}
