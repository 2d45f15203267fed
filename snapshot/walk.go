package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/catalog"
)

// entry is one path found by the walk, with what stat said about it. A
// snapshot holds one per path of the source until its commit, so it is
// kept small: 80 bytes, where strings for the type and 64-bit owners made
// it 104 (at 1M files, 24 MB of the heap, twice that in peak RSS).
type entry struct {
	rel     string // '/'-separated, "." for the root (run.path gives the full path)
	link    string
	size    int64
	mtimeNs int64
	ctimeNs int64
	ino     uint64
	mode    uint32
	// uid and gid own the entry; restore gives them back as root.
	uid, gid uint32
	typ      typ
	// base marks a file with a database sidecar (-wal, -shm, -journal)
	// beside it: whether it is a database decides whether they are stored.
	base bool
}

// typ is an entry's type: one byte where catalog's name takes 16.
type typ uint8

const (
	typNone typ = iota // a socket, FIFO or device: not stored
	typFile
	typDir
	typSymlink
)

// String is the type as the catalog names it ("" for typNone).
func (t typ) String() string {
	switch t {
	case typFile:
		return catalog.TypeFile
	case typDir:
		return catalog.TypeDir
	case typSymlink:
		return catalog.TypeSymlink
	}
	return ""
}

func statEntry(rel string, fi fs.FileInfo) entry {
	e := entry{rel: rel, mode: uint32(fi.Mode().Perm()) | setBits(fi.Mode()), size: fi.Size(),
		mtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.ctimeNs = st.Ctim.Sec*1e9 + st.Ctim.Nsec
		e.ino = st.Ino
		e.uid, e.gid = st.Uid, st.Gid
	}
	switch {
	case fi.Mode().IsDir():
		e.typ, e.size = typDir, 0
	case fi.Mode()&fs.ModeSymlink != 0:
		e.typ = typSymlink
	case fi.Mode().IsRegular():
		e.typ = typFile
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

func fstatat(dirfd int, name string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			return err
		}
	}
}

// readlinkat reads a symlink's target, reusing buf.
func readlinkat(dirfd int, name string, buf []byte) (string, []byte, error) {
	if len(buf) == 0 {
		buf = make([]byte, 256)
	}
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", buf, err
		}
		if n < len(buf) {
			return string(buf[:n]), buf, nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// statEntryAt is statEntry for what fstatat returned.
func statEntryAt(rel string, st *unix.Stat_t) entry {
	e := entry{rel: rel, mode: st.Mode & 0o7777, size: st.Size, mtimeNs: st.Mtim.Nano(),
		ctimeNs: st.Ctim.Nano(), ino: st.Ino, uid: st.Uid, gid: st.Gid}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		e.typ, e.size = typDir, 0
	case unix.S_IFLNK:
		e.typ = typSymlink
	case unix.S_IFREG:
		e.typ = typFile
	}
	return e
}

func kindNameAt(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	}
	return "special file"
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
