package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// localUpload is a pack being written to a temporary file of a Local.
type localUpload struct {
	l         *Local
	f         *os.File
	n         int64
	committed bool
	aborted   bool
}

func (u *localUpload) Write(p []byte) (int, error) {
	if u.committed || u.aborted {
		return 0, errors.New("write upload: upload already finished")
	}
	n, err := u.f.Write(p)
	u.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write upload: %w", err)
	}
	return n, nil
}

// Commit fsyncs the file before renaming it into place and fsyncs the
// directory after, so a crash leaves either no pack or a complete one.
func (u *localUpload) Commit(ctx context.Context, name string) error {
	if err := checkName("commit", name); err != nil {
		return err
	}
	if u.committed || u.aborted {
		return fmt.Errorf("commit pack %s: upload already finished", name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	if err := u.f.Close(); err != nil {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	dst := u.l.path(name)
	fanout := filepath.Dir(dst)
	if err := os.Mkdir(fanout, 0o700); err == nil {
		if err := syncDir(u.l.dir); err != nil {
			return fmt.Errorf("commit pack %s: %w", name, err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}

	fi, err := os.Stat(dst)
	switch {
	case err == nil && fi.Size() != u.n:
		return fmt.Errorf("commit pack %s: exists with %d bytes, upload has %d", name, fi.Size(), u.n)
	case err == nil:
		// Same name and size means same content; keep the existing file.
		if err := os.Remove(u.f.Name()); err != nil {
			return fmt.Errorf("commit pack %s: %w", name, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Rename(u.f.Name(), dst); err != nil {
			return fmt.Errorf("commit pack %s: %w", name, err)
		}
	default:
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	// Also when the pack already existed: its writer may have crashed
	// between its rename and this fsync.
	if err := syncDir(fanout); err != nil {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	u.committed = true
	return nil
}

// Abort removes the temporary file; after Commit there is nothing to do.
func (u *localUpload) Abort() error {
	if u.committed || u.aborted {
		return nil
	}
	u.aborted = true
	u.f.Close() // may already be closed by a failed Commit
	if err := os.Remove(u.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort upload: %w", err)
	}
	return nil
}
