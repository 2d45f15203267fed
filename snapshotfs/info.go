package snapshotfs

import (
	"io/fs"
	"time"

	"github.com/cairn-dev/cairn/catalog"
)

// fileInfo describes one version; it serves as fs.FileInfo and as
// fs.DirEntry, since a listing already holds everything Info needs.
type fileInfo struct {
	name string
	v    *catalog.Version
}

var (
	_ fs.FileInfo = (*fileInfo)(nil)
	_ fs.DirEntry = (*fileInfo)(nil)
)

func newInfo(name string, v *catalog.Version) *fileInfo { return &fileInfo{name: name, v: v} }

func (i *fileInfo) Name() string { return i.name }

// Size is the file's size in bytes, a link's target length, and what the
// catalog recorded for a directory.
func (i *fileInfo) Size() int64 { return i.v.Size }

func (i *fileInfo) Mode() fs.FileMode { return Mode(i.v) }

func (i *fileInfo) ModTime() time.Time { return time.Unix(0, i.v.MtimeNs) }

func (i *fileInfo) IsDir() bool { return i.v.Type == catalog.TypeDir }

// Owner is the uid and gid recorded at capture; ok is false for versions
// captured before owners were recorded. Archive writers look for it.
func (i *fileInfo) Owner() (uid, gid int, ok bool) {
	if i.v.UID < 0 || i.v.GID < 0 {
		return 0, 0, false
	}
	return int(i.v.UID), int(i.v.GID), true
}

// Sys returns the *catalog.Version.
func (i *fileInfo) Sys() any { return i.v }

func (i *fileInfo) Type() fs.FileMode { return i.Mode().Type() }

func (i *fileInfo) Info() (fs.FileInfo, error) { return i, nil }

func (i *fileInfo) String() string { return fs.FormatFileInfo(i) }

// Mode turns a version's type and Unix permission bits (07777) into an
// fs.FileMode.
func Mode(v *catalog.Version) fs.FileMode {
	m := fs.FileMode(v.Mode & 0o777)
	if v.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch v.Type {
	case catalog.TypeDir:
		m |= fs.ModeDir
	case catalog.TypeSymlink:
		m |= fs.ModeSymlink
	}
	return m
}

// entries turns a listing into DirEntries named by their last element.
func entries(vs []*catalog.Version) []fs.DirEntry {
	out := make([]fs.DirEntry, len(vs))
	for i, v := range vs {
		name := v.Path
		for j := len(name) - 1; j >= 0; j-- {
			if name[j] == '/' {
				name = name[j+1:]
				break
			}
		}
		out[i] = newInfo(name, v)
	}
	return out
}
