package snapshotfs

import (
	"io"
	"io/fs"

	"github.com/cairn-dev/cairn/catalog"
)

// dirPage is how many entries one query fetches for ReadDir(n > 0): a
// directory of a million files is listed in pages, never held whole.
const dirPage = 256

// dir is an open directory. Its listing is read in pages, each query
// starting after the last path returned.
type dir struct {
	fsys *FS
	name string // as opened
	at   string // the directory's own path (a link's target)
	info *fileInfo

	buf    []*catalog.Version // fetched, not yet returned
	after  string             // last path fetched
	done   bool               // nothing after `after`
	closed bool
}

var _ fs.ReadDirFile = (*dir)(nil)

func (d *dir) Stat() (fs.FileInfo, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "stat", Path: d.name, Err: fs.ErrClosed}
	}
	return d.info, nil
}

func (d *dir) Read([]byte) (int, error) {
	if d.closed {
		return 0, &fs.PathError{Op: "read", Path: d.name, Err: fs.ErrClosed}
	}
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: ErrIsDir}
}

func (d *dir) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.name, Err: fs.ErrClosed}
	}
	d.closed = true
	d.buf = nil
	return nil
}

// fetch reads the next limit entries (limit <= 0: all that remain).
func (d *dir) fetch(limit int) error {
	vs, err := d.fsys.db.Children(d.fsys.ctx, d.fsys.snap, d.at, d.after, limit)
	if err != nil {
		return &fs.PathError{Op: "readdir", Path: d.name, Err: err}
	}
	if len(vs) > 0 {
		d.after = vs[len(vs)-1].Path
	}
	if limit <= 0 || len(vs) < limit {
		d.done = true
	}
	d.buf = append(d.buf, vs...)
	return nil
}

// ReadDir returns the next n entries in name order (n <= 0: all the rest),
// as fs.ReadDirFile specifies.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrClosed}
	}
	if n <= 0 {
		if !d.done {
			if err := d.fetch(0); err != nil {
				return nil, err
			}
		}
		out := entries(d.buf)
		d.buf = nil
		return out, nil
	}
	if len(d.buf) < n && !d.done {
		if err := d.fetch(max(n-len(d.buf), dirPage)); err != nil {
			return nil, err
		}
	}
	if len(d.buf) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.buf))
	out := entries(d.buf[:k])
	d.buf = d.buf[k:]
	return out, nil
}
