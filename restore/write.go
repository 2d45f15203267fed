package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
)

// writer restores versions under one root.
type writer struct {
	ctx  context.Context
	d    Deps
	root *os.Root
	base string
	opts Options
}

func (w *writer) abs(rel string) string { return filepath.Join(w.base, filepath.FromSlash(rel)) }

func (w *writer) mkdir(v *catalog.Version) error {
	if v.Path == "." {
		return nil
	}
	if fi, err := w.root.Lstat(v.Path); err == nil && !fi.IsDir() {
		return fmt.Errorf("restore %s: a %s is in the way; move it aside or restore with --to", w.abs(v.Path), kind(fi))
	}
	if err := w.root.MkdirAll(v.Path, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", w.abs(v.Path), err)
	}
	return nil
}

func (w *writer) restore(v *catalog.Version) (Action, error) {
	a := Action{Path: w.abs(v.Path), Rel: v.Path, Type: v.Type, Size: v.Size}
	if v.Path == "." {
		return a, fmt.Errorf("restore %s: the source root is recorded as a %s", a.Path, v.Type)
	}
	if isRuntime(v.Path, w.opts.Runtime) {
		a.Verb, a.Reason = "kept", "runtime file, never restored"
		return a, nil
	}
	existing, err := w.root.Lstat(v.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return a, fmt.Errorf("restore %s: %w", a.Path, err)
	}
	if existing != nil && existing.IsDir() {
		return a, fmt.Errorf("restore %s: a directory is in the way; move it aside or restore with --to", a.Path)
	}
	if v.Type == catalog.TypeSymlink {
		return w.symlink(v, a, existing)
	}
	if existing != nil && v.JSONValid.Valid && !v.JSONValid.Bool && !w.opts.Force {
		return a, fmt.Errorf("restore %s: snapshot %d holds a torn (invalid JSON) copy; refusing to write it over the file without --force", a.Path, v.First)
	}
	isDB := v.Capture == catalog.CaptureSQLite
	if isDB && existing != nil && !w.opts.Force {
		if busy, _ := sqlitefile.InUse(a.Path); busy {
			return a, fmt.Errorf("restore %s: the database is open in another process; stop it first, or use --force", a.Path)
		}
	}
	c, err := w.d.DB.ContentByID(w.ctx, v.ContentID)
	if err != nil {
		return a, fmt.Errorf("restore %s: %w", a.Path, err)
	}
	mode := fileMode(v.Path, v.Mode)
	if existing != nil && existing.Mode().IsRegular() && existing.Size() == c.Size && w.sameBytes(v.Path, c.Hash) {
		a.Verb = "unchanged"
		if want := unixMode(mode); existing.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != want {
			if err := w.root.Chmod(v.Path, want); err != nil {
				return a, fmt.Errorf("chmod %s: %w", a.Path, err)
			}
		}
		return a, w.setTimes(v)
	}
	opts := atomicfile.Options{Mode: unixMode(mode)}
	if isDB {
		opts.Check = func(tmp string) error {
			if err := sqlitefile.IntegrityCheck(w.abs(tmp)); err != nil {
				return fmt.Errorf("restore %s: the restored database fails integrity_check, nothing replaced: %w", a.Path, err)
			}
			return nil
		}
		// A -wal from another life replayed over the restored database
		// would corrupt it.
		opts.BeforeRename = func() error {
			for _, side := range []string{v.Path + "-wal", v.Path + "-shm", v.Path + "-journal"} {
				if err := w.root.Remove(side); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove stale %s: %w", w.abs(side), err)
				}
			}
			return nil
		}
	}
	err = atomicfile.Write(w.root, v.Path, opts, func(out io.Writer) error {
		return writeContent(w.ctx, w.d.Store, c, out)
	})
	if err != nil {
		return a, fmt.Errorf("restore %s: %w", a.Path, err)
	}
	a.Verb = "write"
	return a, w.setTimes(v)
}

func (w *writer) setTimes(v *catalog.Version) error {
	t := time.Unix(0, v.MtimeNs)
	if err := w.root.Chtimes(v.Path, t, t); err != nil {
		return fmt.Errorf("set times of %s: %w", w.abs(v.Path), err)
	}
	return nil
}

// sameBytes reports whether the file on disk already holds the content, so
// an in-place restore leaves untouched what it need not write.
func (w *writer) sameBytes(rel string, want [32]byte) bool {
	f, err := w.root.Open(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), want[:])
}

func (w *writer) symlink(v *catalog.Version, a Action, existing fs.FileInfo) (Action, error) {
	if existing != nil && existing.Mode()&fs.ModeSymlink != 0 {
		if target, err := w.root.Readlink(v.Path); err == nil && target == v.LinkTarget {
			a.Verb = "unchanged"
			return a, nil
		}
	}
	// A short temp name: the link's own name may already be NAME_MAX long.
	tmp := path.Join(path.Dir(v.Path), atomicfile.TempPrefix+"link-"+blobstore.Sum([]byte(path.Base(v.Path))).String()[:16])
	w.root.Remove(tmp)
	if err := w.root.Symlink(v.LinkTarget, tmp); err != nil {
		return a, fmt.Errorf("restore symlink %s: %w", a.Path, err)
	}
	if err := w.root.Rename(tmp, v.Path); err != nil {
		w.root.Remove(tmp)
		return a, fmt.Errorf("restore symlink %s: %w", a.Path, err)
	}
	a.Verb = "link"
	return a, atomicfile.SyncDir(w.root, path.Dir(v.Path))
}

// writeContent streams a content's chunks to out, each verified by its
// hash on read, and checks the whole-file hash at the end.
func writeContent(ctx context.Context, store blobstore.Store, c *catalog.Content, out io.Writer) error {
	h := blake3.New()
	var buf []byte
	var n int64
	for _, l := range c.Chunks {
		data, err := blobstore.ReadChunk(ctx, store, l.Pack, blobstore.Entry{ID: l.Hash, Offset: l.Offset, Length: l.Length, Size: l.Size}, buf[:0])
		if err != nil {
			return err
		}
		buf = data
		h.Write(data)
		if _, err := out.Write(data); err != nil {
			return err
		}
		n += int64(len(data))
	}
	if n != c.Size || !bytes.Equal(h.Sum(nil), c.Hash[:]) {
		return fmt.Errorf("content %x: reassembled bytes do not match the recorded hash: %w", c.Hash[:8], blobstore.ErrCorrupt)
	}
	return nil
}

// Cat writes one file of a snapshot to out, verified.
func Cat(ctx context.Context, d Deps, req Request, out io.Writer) error {
	if err := checkPath(req.Path); err != nil {
		return err
	}
	v, err := d.DB.VersionAt(ctx, req.Snapshot, req.Path)
	if err != nil {
		return fmt.Errorf("%s is not in snapshot %d: %w", req.UserPath, req.Snapshot.ID, err)
	}
	if v.Type != catalog.TypeFile {
		return fmt.Errorf("%s is a %s in snapshot %d, not a file", req.UserPath, v.Type, req.Snapshot.ID)
	}
	c, err := d.DB.ContentByID(ctx, v.ContentID)
	if err != nil {
		return err
	}
	return writeContent(ctx, d.Store, c, out)
}

func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func kind(fi fs.FileInfo) string {
	switch {
	case fi.IsDir():
		return "directory"
	case fi.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "file"
}
