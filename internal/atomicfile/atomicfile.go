// Package atomicfile makes a file durable in one step that a crash cannot
// tear: write a temp file beside the target, fsync it, rename it over the
// target, fsync the directory. Readers see the old file or the new one,
// never a mix, and after Write returns the new one survives power loss.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// TempPrefix starts the names of temp files, so a crashed run's leftovers
// are recognisable.
const TempPrefix = ".cairn-tmp-"

// Options control the new file.
type Options struct {
	Mode fs.FileMode
	// Check runs on the complete, synced temp file (by its name under the
	// root) before it replaces the target; an error abandons the write.
	Check func(tempName string) error
	// BeforeRename runs just before the rename (e.g. to remove a stale
	// database -wal that must not be replayed over the new file).
	BeforeRename func() error
}

// Write creates or replaces name (slash-separated, inside root) with what
// fill writes. On any error the target is untouched and the temp removed.
func Write(root *os.Root, name string, opts Options, fill func(w io.Writer) error) error {
	dir := path.Dir(name)
	tmp := path.Join(dir, TempPrefix+randomSuffix())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create temp file for %s: %w", name, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			root.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(opts.Mode.Perm() | opts.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if opts.Check != nil {
		if err := opts.Check(tmp); err != nil {
			return err
		}
	}
	if opts.BeforeRename != nil {
		if err := opts.BeforeRename(); err != nil {
			return err
		}
	}
	if err := root.Rename(tmp, name); err != nil {
		return fmt.Errorf("rename into %s: %w", name, err)
	}
	done = true
	return SyncDir(root, dir)
}

// SyncDir fsyncs a directory so a rename or removal in it is durable.
func SyncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
