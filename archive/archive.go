// Package archive writes a tree of a file system as a tar or zip stream:
// what `cairn dump` does with a snapshot view, though it takes any fs.FS.
//
// The stream is written as the tree is walked, one file at a time through
// a fixed copy buffer and one directory page at a time, so memory stays
// constant however large the files or directories are. Tar entries are
// PAX (exact modes including setuid, setgid and sticky bits, nanosecond
// modification times, names and link targets of any length); zip entries
// carry the Unix mode and the modification time, and a symbolic link is
// stored as its target, as Info-ZIP does.
package archive

import (
	"archive/tar"
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Format is an archive format.
type Format string

// The formats Write knows.
const (
	Tar Format = "tar"
	Zip Format = "zip"
)

// ErrUnknownFormat reports a format name that is neither tar nor zip.
var ErrUnknownFormat = errors.New("archive: unknown format")

// ParseFormat parses "tar" or "zip".
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Tar, Zip:
		return f, nil
	}
	return "", fmt.Errorf("%w %q (tar or zip)", ErrUnknownFormat, s)
}

// dirPage is how many entries of a directory are held at a time.
const dirPage = 256

// Write writes root of fsys, and everything below it when it is a
// directory, to w. Entries are named from root's own name ("cron/",
// "cron/jobs.json"), or, when root is ".", from inside it, so that
// extracting the archive into a directory rebuilds the tree there.
// Symbolic links are stored as links (fsys must implement fs.ReadLinkFS
// for them), never followed.
func Write(w io.Writer, fsys fs.FS, root string, format Format) error {
	var aw entryWriter
	switch format {
	case Tar:
		aw = &tarWriter{tw: tar.NewWriter(w)}
	case Zip:
		aw = &zipWriter{zw: zip.NewWriter(w)}
	default:
		return fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
	info, err := fs.Lstat(fsys, root)
	if err != nil {
		return fmt.Errorf("dump %s: %w", root, err)
	}
	name := ""
	if root != "." {
		name = path.Base(root)
	}
	if err := walk(fsys, aw, root, name, info); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return fmt.Errorf("dump %s: %w", root, err)
	}
	return nil
}

// entryWriter adds one entry to an archive.
type entryWriter interface {
	// add writes an entry for info under name; a regular file's bytes
	// come from open, a link's target is link.
	add(name string, info fs.FileInfo, link string, open func() (fs.File, error)) error
	Close() error
}

// walk adds the entry at p (named name in the archive; "" is the root of
// a whole-tree dump) and, for a directory, its children in name order.
func walk(fsys fs.FS, aw entryWriter, p, name string, info fs.FileInfo) error {
	var link string
	switch mode := info.Mode(); {
	case mode&fs.ModeSymlink != 0:
		target, err := fs.ReadLink(fsys, p)
		if err != nil {
			return fmt.Errorf("dump %s: %w", p, err)
		}
		link = target
	case !mode.IsRegular() && !mode.IsDir():
		return fmt.Errorf("dump %s: cannot store a %v", p, mode.Type())
	}
	if name != "" {
		err := aw.add(name, info, link, func() (fs.File, error) { return fsys.Open(p) })
		if err != nil {
			return fmt.Errorf("dump %s: %w", p, err)
		}
	}
	if !info.IsDir() {
		return nil
	}
	f, err := fsys.Open(p)
	if err != nil {
		return fmt.Errorf("dump %s: %w", p, err)
	}
	defer f.Close()
	d, ok := f.(fs.ReadDirFile)
	if !ok {
		return fmt.Errorf("dump %s: directory cannot be listed", p)
	}
	for {
		entries, err := d.ReadDir(dirPage)
		for _, e := range entries {
			child := e.Name()
			ci, err := e.Info()
			if err != nil {
				return fmt.Errorf("dump %s: %w", path.Join(p, child), err)
			}
			childName := child
			if name != "" {
				childName = name + "/" + child
			}
			if err := walk(fsys, aw, join(p, child), childName, ci); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dump %s: %w", p, err)
		}
	}
}

// join is path.Join for a cleaned directory and one name (which path.Join
// would clean again, mangling none of our names but costing a copy).
func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// copyFile copies a regular file's bytes to w and checks its size.
func copyFile(w io.Writer, open func() (fs.File, error), size int64) error {
	f, err := open()
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("read %d bytes, the file has %d", n, size)
	}
	return nil
}

// owned is a FileInfo that knows the entry's numeric owner
// (snapshotfs's does).
type owned interface {
	Owner() (uid, gid int, ok bool)
}

type tarWriter struct{ tw *tar.Writer }

func (t *tarWriter) add(name string, info fs.FileInfo, link string, open func() (fs.File, error)) error {
	h, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	h.Name, h.Format = name, tar.FormatPAX
	if info.IsDir() {
		h.Name += "/"
	}
	// Numeric owners as recorded, when the view knows them; names would
	// be guesses from the system that writes the archive.
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
	if o, ok := info.(owned); ok {
		if uid, gid, ok := o.Owner(); ok {
			h.Uid, h.Gid = uid, gid
		}
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	return copyFile(t.tw, open, info.Size())
}

func (t *tarWriter) Close() error { return t.tw.Close() }

type zipWriter struct{ zw *zip.Writer }

func (z *zipWriter) add(name string, info fs.FileInfo, link string, open func() (fs.File, error)) error {
	h, err := zip.FileInfoHeader(info)
	if err != nil {
		return err
	}
	h.Name, h.Method = name, zip.Store
	switch {
	case info.IsDir():
		h.Name += "/"
	case info.Mode().IsRegular():
		h.Method = zip.Deflate
	}
	w, err := z.zw.CreateHeader(h)
	if err != nil {
		return err
	}
	switch {
	case link != "":
		_, err = io.WriteString(w, link)
		return err
	case info.Mode().IsRegular():
		return copyFile(w, open, info.Size())
	}
	return nil
}

func (z *zipWriter) Close() error { return z.zw.Close() }
