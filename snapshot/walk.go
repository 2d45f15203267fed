package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/ignore"
)

// entry is one path found by the walk, with what stat said about it.
type entry struct {
	rel     string // '/'-separated, "." for the root
	abs     string
	typ     string
	mode    uint32
	size    int64
	mtimeNs int64
	ctimeNs int64
	ino     uint64
	link    string
}

func statEntry(abs, rel string, fi fs.FileInfo) entry {
	e := entry{rel: rel, abs: abs, mode: uint32(fi.Mode().Perm()) | setBits(fi.Mode()), size: fi.Size(),
		mtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.ctimeNs = st.Ctim.Sec*1e9 + st.Ctim.Nsec
		e.ino = st.Ino
	}
	switch {
	case fi.Mode().IsDir():
		e.typ, e.size = catalog.TypeDir, 0
	case fi.Mode()&fs.ModeSymlink != 0:
		e.typ = catalog.TypeSymlink
	case fi.Mode().IsRegular():
		e.typ = catalog.TypeFile
	}
	return e
}

// setBits maps Go's setuid/setgid/sticky flags back to their Unix bits.
func setBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// walk lists the source top-down in path order. Excluded directories are
// not entered; special files are skipped with a warning, as are entries
// that cannot be read (the snapshot records what it could see and says so).
func walk(root string, ex *ignore.Matcher, skip map[string]bool, warn func(path, kind, msg string)) ([]entry, error) {
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	var out []entry
	err := filepath.WalkDir(root, func(abs string, d fs.DirEntry, err error) error {
		rel := "."
		if abs != root {
			r, _ := filepath.Rel(root, abs)
			rel = filepath.ToSlash(r)
		}
		if err != nil {
			if abs == root {
				return err
			}
			warn(rel, "unreadable", fmt.Sprintf("skipped: %v", unwrapPathError(err)))
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if skip[abs] {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if rel != "." && ex.Match(rel, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), atomicfile.TempPrefix) {
			// A restore's temp file (left partial if it was killed) is
			// never source data: restored, it would become a real file.
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // vanished since the directory was listed
			}
			warn(rel, "unreadable", fmt.Sprintf("skipped: %v", unwrapPathError(err)))
			return nil
		}
		e := statEntry(abs, rel, info)
		switch e.typ {
		case "":
			warn(rel, "special", fmt.Sprintf("skipped %s (sockets, FIFOs and devices are not stored)", kindName(info.Mode())))
			return nil
		case catalog.TypeSymlink:
			if e.link, err = os.Readlink(abs); err != nil {
				warn(rel, "unreadable", fmt.Sprintf("skipped: %v", unwrapPathError(err)))
				return nil
			}
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	return out, nil
}

// checkRoot refuses a source that is not a readable directory.
func checkRoot(root string) error {
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("source %s: %w", root, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("source %s is not a directory", root)
	}
	if _, err := os.ReadDir(root); err != nil {
		return fmt.Errorf("source %s cannot be read: %w", root, unwrapPathError(err))
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func kindName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// sidecarBase returns the database a SQLite sidecar name belongs to.
func sidecarBase(rel string) (string, bool) {
	for _, suf := range []string{"-wal", "-shm", "-journal"} {
		if len(rel) > len(suf) && rel[len(rel)-len(suf):] == suf {
			return rel[:len(rel)-len(suf)], true
		}
	}
	return "", false
}

func isJSON(rel string) bool { return path.Ext(rel) == ".json" }

func isJSONLines(rel string) bool {
	ext := path.Ext(rel)
	return ext == ".jsonl" || ext == ".ndjson"
}
