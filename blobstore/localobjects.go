package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// LocalObjects is the filesystem Objects: key a/b/c is the file root/a/b/c.
// A put writes a temporary file in tmpDir, fsyncs it, hard-links it into
// place (link(2) fails if the name exists, so a put never replaces an
// object, even between processes) and fsyncs the directory.
type LocalObjects struct {
	root, tmpDir string
}

var _ Objects = (*LocalObjects)(nil)

// NewLocalObjects opens the objects under root; tmpDir must be on the same
// filesystem. Both are created if missing.
func NewLocalObjects(root, tmpDir string) (*LocalObjects, error) {
	for _, d := range []string{root, tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create object directory: %w", err)
		}
	}
	return &LocalObjects{root: root, tmpDir: tmpDir}, nil
}

func (o *LocalObjects) path(key string) string {
	return filepath.Join(o.root, filepath.FromSlash(key))
}

// TempObjectPrefix starts the names of PutObject's temp files. A process
// writes them outside any repository lock (a checkpoint of the log), so
// its writer holds an flock on the file while it lives, and gc, which
// clears the tmp directory, removes only those it can lock itself
// (RemoveDeadTemp).
const TempObjectPrefix = "object-"

// PutObject stores data under key unless it exists.
func (o *LocalObjects) PutObject(ctx context.Context, key string, data []byte) error {
	if err := CheckKey("put", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	dst := o.path(key)
	if err := mkdirAllSynced(o.root, filepath.Dir(dst)); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	f, err := createLockedTemp(o.tmpDir)
	if err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	// The lock lasts until after the link: a gc that took the temp file
	// between close and link would fail the put.
	defer f.Close()
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put object %s: %w", key, ErrExists)
		}
		return fmt.Errorf("put object %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	return nil
}

// createLockedTemp creates a temp object file holding an exclusive flock.
// Between create and flock a gc may lock and remove the new file, so a
// file that lost its name is dropped and another one made.
func createLockedTemp(dir string) (*os.File, error) {
	for attempt := 0; ; attempt++ {
		f, err := os.CreateTemp(dir, TempObjectPrefix+"*")
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("lock temp file: %w", err)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		if st.Nlink > 0 {
			return f, nil
		}
		f.Close()
		if attempt >= 100 {
			return nil, fmt.Errorf("temp file in %s removed while being created (100 times)", dir)
		}
	}
}

// RemoveDeadTemp removes the temp object file at path unless a live
// PutObject holds it. It reports whether the file was live.
func RemoveDeadTemp(path string) (live bool) {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	// Unlinked while holding the lock: a writer that locks it next sees
	// no name left (createLockedTemp) and makes another.
	os.Remove(path)
	return false
}

// mkdirAllSynced makes dir (under root) and fsyncs the parent of every
// directory it creates, so the new object's path survives a crash.
func mkdirAllSynced(root, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if dir != root {
		if err := mkdirAllSynced(root, filepath.Dir(dir)); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// GetObject reads an object.
func (o *LocalObjects) GetObject(ctx context.Context, key string) ([]byte, error) {
	if err := CheckKey("get", key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	b, err := os.ReadFile(o.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) {
		// A directory is a prefix of keys, not an object.
		return nil, fmt.Errorf("get object %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	return b, nil
}

// ListObjects walks the keys under prefix in ascending order. The prefix
// need not end at a segment boundary ("log/ab" lists "log/abc/1").
func (o *LocalObjects) ListObjects(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return o.ListObjectsDated(ctx, prefix, func(key string, size int64, _ time.Time) error { return fn(key, size) })
}

// ListObjectsDated is ListObjects with each file's modification time.
func (o *LocalObjects) ListObjectsDated(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error {
	// Start the walk at the deepest directory the prefix names.
	start := o.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = o.path(prefix[:i])
	}
	var keys []string
	sizes := map[string]int64{}
	times := map[string]time.Time{}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, rerr := filepath.Rel(o.root, p)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p != start && (key == "packs" || key == "local" || key == "tmp") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) || !ValidKey(key) || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted during the walk
			}
			return err
		}
		keys = append(keys, key)
		sizes[key] = fi.Size()
		times[key] = fi.ModTime()
		return nil
	})
	if err != nil {
		return fmt.Errorf("list objects %s: %w", prefix, err)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(k, sizes[k], times[k]); err != nil {
			return err
		}
	}
	return nil
}

// DeleteObject removes an object and fsyncs its directory.
func (o *LocalObjects) DeleteObject(ctx context.Context, key string) error {
	if err := CheckKey("delete", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	p := o.path(key)
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		// A directory is a prefix of keys, not an object: os.Remove
		// would delete an empty one.
		return fmt.Errorf("delete object %s: %w", key, ErrNotFound)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete object %s: %w", key, ErrNotFound)
		}
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	return nil
}
