package importer

import (
	"archive/tar"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Kind says how a backup is read.
type Kind int

const (
	// Dir is a directory holding the backed-up tree, read where it is.
	Dir Kind = iota
	// Zip is a zip archive.
	Zip
	// Tar is a tar archive, plain or compressed with gzip or zstd.
	Tar
)

func (k Kind) String() string {
	switch k {
	case Zip:
		return "zip"
	case Tar:
		return "tar"
	}
	return "directory"
}

// TimeFrom says where a backup's time came from.
type TimeFrom string

const (
	TimeFromFlag     TimeFrom = "given"    // the caller's --time
	TimeFromName     TimeFrom = "name"     // a date and time in its name
	TimeFromManifest TimeFrom = "manifest" // its directory's manifest.json
	TimeFromNewest   TimeFrom = "newest"   // its newest file's mtime
)

// Backup is one state to import: it becomes one snapshot.
type Backup struct {
	Path string // the archive or directory, as found
	Kind Kind
	Time time.Time
	From TimeFrom
	// Manifest is set when the directory's manifest.json is the layout's
	// (it gave the time) and not part of the state.
	Manifest bool
}

// ErrNothing means a directory named for import holds no state at all.
var ErrNothing = errors.New("importer: nothing to import")

// Find lists the backups in paths, oldest first: each archive is one; a
// directory whose entries are all timed snapshot directories or archives
// (a layout such as prompts_snapshots/20260101_120000/, state-snapshots/
// <id>/ with a manifest.json carrying a timestamp, or a directory of zips)
// is one per entry; any other directory is one. at, when not zero, is the
// time of the only backup (Find fails if there are several).
func Find(paths []string, at time.Time) ([]Backup, error) {
	var out []Backup
	for _, p := range paths {
		bs, err := find(p)
		if err != nil {
			return nil, err
		}
		out = append(out, bs...)
	}
	if !at.IsZero() {
		if len(out) != 1 {
			return nil, fmt.Errorf("a time was given for %d backups; it applies to one", len(out))
		}
		out[0].Time, out[0].From = at, TimeFromFlag
	}
	for i := range out {
		if out[i].Time.IsZero() {
			t, err := Newest(out[i])
			if err != nil {
				return nil, err
			}
			out[i].Time, out[i].From = t, TimeFromNewest
		}
	}
	slices.SortStableFunc(out, func(a, b Backup) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Path, b.Path))
	})
	return out, nil
}

func find(p string) ([]Backup, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("open backup: %w", err)
	}
	if !fi.IsDir() {
		kind, err := sniff(p)
		if err != nil {
			return nil, err
		}
		b := Backup{Path: p, Kind: kind}
		b.Time, b.From = nameTime(p)
		return []Backup{b}, nil
	}
	if layout, err := snapshotDirs(p); err != nil || len(layout) > 0 {
		return layout, err
	}
	b, err := dirBackup(p)
	if err != nil {
		return nil, err
	}
	return []Backup{b}, nil
}

// nameTime is the time in a backup's file or directory name.
func nameTime(p string) (time.Time, TimeFrom) {
	if t, ok := ParseTime(filepath.Base(p)); ok {
		return t, TimeFromName
	}
	return time.Time{}, ""
}

// dirBackup describes a directory as one backup, its time from its
// manifest or its name.
func dirBackup(p string) (Backup, error) {
	b := Backup{Path: p, Kind: Dir}
	t, ok, err := manifestTime(filepath.Join(p, ManifestName))
	if err != nil {
		return b, fmt.Errorf("backup %s: %w", p, err)
	}
	if ok {
		b.Time, b.From, b.Manifest = t, TimeFromManifest, true
		return b, nil
	}
	b.Time, b.From = nameTime(p)
	return b, nil
}

// snapshotDirs lists dir as a layout of backups: every entry (hidden
// files such as .DS_Store aside) is a directory with a time in its name or
// its manifest (prompts_snapshots/20260101_120000/, state-snapshots/<id>/
// with a manifest.json), or an archive (a directory the backup tool fills
// with zips). Anything else is not a layout, and nil is returned: the
// directory is one backup.
func snapshotDirs(dir string) ([]Backup, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read backup %s: %w", dir, err)
	}
	var out []Backup
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		switch {
		case de.IsDir():
			b, err := dirBackup(p)
			if err != nil {
				return nil, err
			}
			if b.Time.IsZero() {
				return nil, nil
			}
			out = append(out, b)
		case strings.HasPrefix(de.Name(), "."):
		case de.Type().IsRegular():
			kind, err := sniff(p)
			if err != nil {
				return nil, nil // a file of the state, not an archive
			}
			b := Backup{Path: p, Kind: kind}
			b.Time, b.From = nameTime(p)
			out = append(out, b)
		default:
			return nil, nil
		}
	}
	return out, nil
}

// sniff tells an archive's kind by its first bytes, not its name: a
// backup renamed .bak is still read.
func sniff(p string) (Kind, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, fmt.Errorf("open backup: %w", err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case hasPrefix(head, "PK\x03\x04"), hasPrefix(head, "PK\x05\x06"):
		return Zip, nil
	case hasPrefix(head, "\x1f\x8b"), hasPrefix(head, "\x28\xb5\x2f\xfd"):
		return Tar, nil // compressed; decompressed, it must be a tar
	case n >= 262 && string(head[257:262]) == "ustar":
		return Tar, nil
	}
	return 0, fmt.Errorf("backup %s: not a zip or tar archive (plain, gzip or zstd) nor a directory", p)
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// Newest is the newest modification time of anything in a backup: the
// best guess at when its state was taken, when nothing names the time.
func Newest(b Backup) (time.Time, error) {
	var newest time.Time
	see := func(t time.Time) {
		if t.After(newest) {
			newest = t
		}
	}
	switch b.Kind {
	case Dir:
		err := filepath.WalkDir(b.Path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				fi, err := d.Info()
				if err != nil {
					return err
				}
				see(fi.ModTime())
			}
			return nil
		})
		if err != nil {
			return time.Time{}, fmt.Errorf("read backup %s: %w", b.Path, err)
		}
	default:
		err := eachEntry(b.Path, b.Kind, func(e entry) error {
			if e.typ == tar.TypeReg {
				see(e.mtime)
			}
			return nil
		})
		if err != nil {
			return time.Time{}, err
		}
	}
	if newest.IsZero() {
		return time.Time{}, fmt.Errorf("backup %s: %w (no files, and no time in its name; give --time)", b.Path, ErrNothing)
	}
	return newest, nil
}
