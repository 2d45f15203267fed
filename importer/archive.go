package importer

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"
)

// entry is one archive member, in the terms both formats share.
type entry struct {
	name     string
	typ      byte // tar's type flags: TypeReg, TypeDir, TypeSymlink, TypeLink, other
	mode     fs.FileMode
	hasMode  bool // the archive recorded a Unix mode (zip may not)
	mtime    time.Time
	uid, gid int
	hasOwner bool
	link     string // a symlink's target or a hard link's name
	open     func() (io.ReadCloser, error)
}

// eachEntry calls fn for every member of the archive at p, in archive
// order.
func eachEntry(p string, kind Kind, fn func(e entry) error) error {
	switch kind {
	case Zip:
		return eachZip(p, fn)
	case Tar:
		return eachTar(p, fn)
	}
	return fmt.Errorf("backup %s is not an archive", p)
}

// zip creators whose external attributes carry a Unix mode.
const (
	creatorUnix  = 3
	creatorMacOS = 19
)

func eachZip(p string, fn func(e entry) error) error {
	zr, err := zip.OpenReader(p)
	// ErrInsecurePath (with GODEBUG zipinsecurepath=0) still returns a
	// usable reader; CleanName refuses such names with its own error.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("read zip %s: %w", p, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		creator := f.CreatorVersion >> 8
		e := entry{name: f.Name, mtime: f.Modified, mode: f.Mode(),
			hasMode: (creator == creatorUnix || creator == creatorMacOS) && f.ExternalAttrs>>16 != 0}
		switch {
		case f.Mode().IsDir():
			e.typ = tar.TypeDir
		case f.Mode()&fs.ModeSymlink != 0:
			e.typ = tar.TypeSymlink
			target, err := readSmall(f)
			if err != nil {
				return fmt.Errorf("read zip %s: entry %q: %w", p, f.Name, err)
			}
			e.link = target
		case f.Mode().IsRegular():
			e.typ = tar.TypeReg
			e.open = f.Open
		default:
			e.typ = tar.TypeChar // a device or FIFO: skipped
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// readSmall reads a zip symlink's target, which is its content.
func readSmall(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4097))
	if err != nil {
		return "", err
	}
	if len(b) > 4096 {
		return "", errors.New("symlink target longer than PATH_MAX")
	}
	return string(b), nil
}

func eachTar(p string, fn func(e entry) error) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read tar %s: %w", p, err)
	}
	defer f.Close()
	tr, closeTar, err := openTar(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("read tar %s: %w", p, err)
	}
	defer closeTar()
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("read tar %s: %w", p, err)
		}
		e := entry{name: h.Name, typ: h.Typeflag, mode: h.FileInfo().Mode(), hasMode: true, mtime: h.ModTime,
			uid: h.Uid, gid: h.Gid, hasOwner: true, link: h.Linkname}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			e.typ = tar.TypeReg
			e.open = func() (io.ReadCloser, error) { return io.NopCloser(tr), nil }
		case tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
		default:
			e.typ = tar.TypeChar
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// openTar reads a tar stream, decompressing gzip or zstd (told by their
// magic bytes).
func openTar(r *bufio.Reader) (*tar.Reader, func(), error) {
	head, _ := r.Peek(4)
	switch {
	case hasPrefix(head, "\x1f\x8b"):
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return tar.NewReader(gz), func() { gz.Close() }, nil
	case hasPrefix(head, "\x28\xb5\x2f\xfd"):
		// One goroutine and low memory: an import unpacks one stream, and
		// shares the machine with the snapshot that follows.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return tar.NewReader(zr), zr.Close, nil
	}
	return tar.NewReader(r), func() {}, nil
}
