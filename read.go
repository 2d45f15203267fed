package cairn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/cairn-dev/cairn/catalog"
)

// The catalog's records, as the read API hands them out. They are plain
// data, so they are the catalog's own types under the product's names.
type (
	// Snapshot is one committed snapshot.
	Snapshot = catalog.Snapshot
	// Version is one version of one path, valid over a range of
	// snapshots of its source.
	Version = catalog.Version
	// Warning is something a snapshot found that a person should know (a
	// JSON file emptied, a mass deletion, a database damaged at capture).
	Warning = catalog.Warning
	// NoSnapshotError names a snapshot id that does not exist; it is
	// ErrNotFound to errors.Is.
	NoSnapshotError = catalog.NoSnapshotError
	// RowFunc receives the rows of Query: first the column names with a
	// nil row, then each row.
	RowFunc = catalog.RowFunc
)

// Entry types of a Version.
const (
	TypeFile    = catalog.TypeFile
	TypeDir     = catalog.TypeDir
	TypeSymlink = catalog.TypeSymlink
)

// Warning kinds (Warning.Kind; the documented list is in docs/sql.md).
const (
	WarnJSONEmptied         = catalog.WarnJSONEmptied
	WarnJSONTorn            = catalog.WarnJSONTorn
	WarnMassDeletion        = catalog.WarnMassDeletion
	WarnSecretReadable      = catalog.WarnSecretReadable
	WarnDatabaseCheck       = catalog.WarnDatabaseCheck
	WarnDatabaseUnreadable  = catalog.WarnDatabaseUnreadable
	WarnChangedWhileReading = catalog.WarnChangedWhileReading
	WarnVanished            = catalog.WarnVanished
	WarnUnreadable          = catalog.WarnUnreadable
	WarnSpecial             = catalog.WarnSpecial
	WarnMissingPack         = catalog.WarnMissingPack
)

var (
	// ErrNotFound means the catalog has no such thing (snapshot, path).
	ErrNotFound = catalog.ErrNotFound
	// ErrQueryWrites refuses a Query that would write, attach a database,
	// change a setting or load an extension.
	ErrQueryWrites = catalog.ErrReadOnly
	// ErrNeverSnapshotted means a directory named as a source has no
	// snapshots and no settings.
	ErrNeverSnapshotted = errors.New("has never been snapshotted")
	// ErrInsideSource means a directory named as a source lies inside
	// another source.
	ErrInsideSource = errors.New("is not a source: it is inside")
)

// Sources lists every source: a directory that has been snapshotted or
// given settings, with its settings in effect.
func (r *Repo) Sources(ctx context.Context) ([]Source, error) {
	srcs, err := r.db.Sources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Source, 0, len(srcs))
	for _, s := range srcs {
		src, err := parseSource(s)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// SnapshotFilter chooses snapshots; the zero value chooses all of them.
type SnapshotFilter struct {
	// Source is a source directory as the user names it; it need not
	// exist any more (its recorded path is matched).
	Source string
	// Tags: only snapshots that have every one of these tags.
	Tags []string
	// Since and Until bound the start time (inclusive); zero is unbounded.
	Since, Until time.Time
	// Latest keeps only the newest N of each source's chosen snapshots;
	// 0 keeps all.
	Latest int
}

// Snapshots lists the snapshots f chooses, oldest first.
func (r *Repo) Snapshots(ctx context.Context, f SnapshotFilter) ([]Snapshot, error) {
	var sourceID int64
	if f.Source != "" {
		src, err := r.namedSource(ctx, f.Source)
		if err != nil {
			return nil, err
		}
		sourceID = src.ID
	}
	snaps, err := r.db.Snapshots(ctx, sourceID)
	if err != nil {
		return nil, err
	}
	snaps = slices.DeleteFunc(snaps, func(s Snapshot) bool {
		for _, t := range f.Tags {
			if !slices.Contains(s.Tags, t) {
				return true
			}
		}
		return (!f.Since.IsZero() && s.Started.Before(f.Since)) || (!f.Until.IsZero() && s.Started.After(f.Until))
	})
	if f.Latest > 0 {
		// Newest first per source, keeping the first Latest of each, then
		// back into the catalog's order (ids ascend with time).
		perSource := map[int64]int{}
		keep := map[int64]bool{}
		for i := len(snaps) - 1; i >= 0; i-- {
			s := snaps[i]
			if perSource[s.SourceID] < f.Latest {
				perSource[s.SourceID]++
				keep[s.ID] = true
			}
		}
		snaps = slices.DeleteFunc(snaps, func(s Snapshot) bool { return !keep[s.ID] })
	}
	return snaps, nil
}

// SnapshotByID returns one snapshot by id (a *NoSnapshotError if there is
// none).
func (r *Repo) SnapshotByID(ctx context.Context, id int64) (Snapshot, error) {
	return r.db.SnapshotByID(ctx, id)
}

// namedSource finds the source a user names by the path recorded for it,
// so that a source deleted since (when its snapshots are needed most) is
// still found; a path inside a source is refused with ErrInsideSource.
func (r *Repo) namedSource(ctx context.Context, dir string) (catalog.Source, error) {
	src, rel, err := r.locate(ctx, dir)
	if errors.Is(err, ErrNoSource) {
		abs, _ := filepath.Abs(dir)
		return src, fmt.Errorf("%s %w", abs, ErrNeverSnapshotted)
	}
	if err != nil {
		return src, err
	}
	if rel != "." {
		return src, fmt.Errorf("%s %w %s", dir, ErrInsideSource, src.Path)
	}
	return src, nil
}

// FileHistory is every version of one path that a snapshot still holds.
type FileHistory struct {
	Source   string // the source's directory
	Path     string // relative to it
	Versions []FileVersion
}

// FileVersion is one version of a path with the snapshots that saw it:
// the first and last that still exist, and when they were taken.
type FileVersion struct {
	*Version
	FirstSnapshot, LastSnapshot int64
	FirstSeen, LastSeen         time.Time
}

// History returns the versions of the path a user names (it need not
// exist any more), newest first. A path no snapshot holds has none.
func (r *Repo) History(ctx context.Context, userPath string) (*FileHistory, error) {
	src, rel, err := r.locate(ctx, userPath)
	if err != nil {
		return nil, err
	}
	seen, err := r.db.HistoryRanges(ctx, src.ID, rel)
	if err != nil {
		return nil, err
	}
	h := &FileHistory{Source: src.Path, Path: rel, Versions: make([]FileVersion, len(seen))}
	for i, s := range seen {
		h.Versions[i] = FileVersion{s.Version, s.FirstSnapshot, s.LastSnapshot, s.FirstSeen, s.LastSeen}
	}
	return h, nil
}

// TreeDiff lists the paths (relative to the source) added, removed and
// changed from one snapshot to another, each sorted.
type TreeDiff struct {
	Added, Removed, Changed []string
}

// Diff compares snapshot a with snapshot b by what people care about:
// type, bytes, mode and link target. A directory whose mtime moved because
// an entry changed is not reported itself; the entry is.
func (r *Repo) Diff(ctx context.Context, a, b int64) (*TreeDiff, error) {
	var trees [2]map[string]*Version
	for i, id := range []int64{a, b} {
		s, err := r.db.SnapshotByID(ctx, id)
		if err != nil {
			return nil, err
		}
		vs, err := r.db.Tree(ctx, s, ".")
		if err != nil {
			return nil, err
		}
		trees[i] = make(map[string]*Version, len(vs))
		for _, v := range vs {
			trees[i][v.Path] = v
		}
	}
	d := &TreeDiff{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for p, vb := range trees[1] {
		va, ok := trees[0][p]
		switch {
		case !ok:
			d.Added = append(d.Added, p)
		case va.Type != vb.Type || va.Mode != vb.Mode || va.LinkTarget != vb.LinkTarget || !bytes.Equal(va.ContentHash, vb.ContentHash):
			d.Changed = append(d.Changed, p)
		}
	}
	for p := range trees[0] {
		if _, ok := trees[1][p]; !ok {
			d.Removed = append(d.Removed, p)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	slices.Sort(d.Changed)
	return d, nil
}

// Query runs one read-only SQL statement on the catalog's documented views
// (snapshots, files, versions, warnings; docs/sql.md) and streams its rows
// to fn as SQLite produces them, so memory stays small however many rows
// there are. A statement that writes is refused with ErrQueryWrites, a
// string of several statements too. timeout stops a query that keeps
// SQLite busy longer (context.DeadlineExceeded); 0 means no limit.
func (r *Repo) Query(ctx context.Context, sql string, timeout time.Duration, fn RowFunc) error {
	return r.db.UserQuery(ctx, sql, timeout, fn)
}

// WarningKinds lists every warning kind, in the documented order.
func WarningKinds() []string { return slices.Clone(catalog.WarningKinds) }
