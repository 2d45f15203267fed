package snapshot

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
)

// The comparison merges two streams sorted the same way: the walk's
// entries and the source's live versions, both in byte order of the
// source-relative path (Go's string order, SQLite's BINARY collation of
// the stored paths), both produced while the merge runs (walkstream.go,
// catalog.LiveStream). Only the entries and live versions the snapshot
// must read, close, carry or report are kept; the others are counted and
// dropped, so memory holds what changed, not the tree nor the live set
// (at 1M files that set, as a map, was 958 MiB and a quarter of an
// unchanged snapshot's time).

// liveStream yields live versions in path order, nil at the end; a
// version is valid until the next call (catalog.LiveStream).
type liveStream interface {
	Next() (*catalog.Version, error)
}

// sliceStream streams versions from a slice sorted by path.
type sliceStream []*catalog.Version

func (s *sliceStream) Next() (*catalog.Version, error) {
	if len(*s) == 0 {
		return nil, nil
	}
	v := (*s)[0]
	*s = (*s)[1:]
	return v, nil
}

// streamOf streams the versions of a map (a partial snapshot's).
func streamOf(m map[string]*catalog.Version) *sliceStream {
	s := make(sliceStream, 0, len(m))
	for _, v := range m {
		s = append(s, v)
	}
	slices.SortFunc(s, func(a, b *catalog.Version) int { return strings.Compare(a.Path, b.Path) })
	return &s
}

// sortEntries puts entries in the order the comparison merges them in.
func sortEntries(es []entry) {
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.rel, b.rel) })
}

// walkStream yields the walk's entries in path order (orderedWalk, or a
// partial snapshot's sliceWalk), nil at the end.
type walkStream interface {
	// next returns the next entry and its "-wal" neighbour, if any; both
	// are valid until the next call.
	next() (*entry, *walStat)
	// carries reports whether a path the walk has streamed past without
	// finding it could not be read (or lies beneath what could not).
	carries(path string) bool
}

// plan is the comparison of the walk with the live versions.
type plan struct {
	// entries are the walk's entries that are new or changed, in path
	// order; unchanged ones are counted and dropped, so memory holds what
	// changed rather than the tree.
	entries []entry
	// wal holds the "-wal" neighbours of entries, by index.
	wal      map[int]walStat
	isDB     map[string]bool // files with sidecars known or sniffed to be databases
	toRead   []int           // indexes of entries whose bytes must be read
	reuse    map[int]*catalog.Version
	metaOnly []int // dirs and symlinks that are new or changed
	removed  []*catalog.Version
	// carried are live versions of paths that could not be read (or lie
	// beneath a directory that could not be): they are not known to be
	// gone, so they continue into this snapshot unchanged. carriedFiles
	// and carriedBytes count the regular files among those the walk did
	// not find.
	carried      []*catalog.Version
	carriedFiles int64
	carriedBytes int64
	// live holds the live versions of the entries in toRead and metaOnly;
	// unchanged entries have none here.
	live map[string]*catalog.Version
	// liveFiles counts the live regular files compared with (the mass
	// deletion guard's denominator), unchangedBytes their sizes where the
	// file is unchanged; hadLive reports any live version at all.
	liveFiles      int
	unchangedBytes int64
	hadLive        bool
	// walked counts the entries the walk found (sidecars left out), files
	// and fileBytes the regular files among them and their sizes.
	walked    int
	files     int64
	fileBytes int64
	// unreadable marks entries (indexes into entries) whose read failed,
	// or whose every read was torn (errTorn): their previous versions
	// continue. execute fills it.
	unreadable map[int]bool
	news       int
	changed    int
	unchanged  int
	racyAfter  int64
}

// walOf returns the "-wal" neighbour of entries[i], or nil.
func (p *plan) walOf(i int) *walStat {
	if p.wal == nil {
		return nil
	}
	if w, ok := p.wal[i]; ok {
		return &w
	}
	return nil
}

// compare merges the walk's entries with the live versions streamed in
// the same order, as both come.
func (r *run) compare(walk walkStream, live liveStream, started time.Time) (*plan, error) {
	p := &plan{isDB: map[string]bool{}, reuse: map[int]*catalog.Version{},
		live: map[string]*catalog.Version{}, racyAfter: started.Add(-racyWindow).UnixNano()}
	unmatched := func(v *catalog.Version) {
		k := *v
		if walk.carries(v.Path) {
			p.carried = append(p.carried, &k)
			if k.Type == catalog.TypeFile {
				p.carriedFiles++
				p.carriedBytes += k.Size
			}
		} else {
			p.removed = append(p.removed, &k)
		}
	}
	next := func() (*catalog.Version, error) {
		v, err := live.Next()
		if v != nil {
			p.hadLive = true
			if v.Type == catalog.TypeFile {
				p.liveFiles++
			}
		}
		return v, err
	}
	v, err := next()
	for e, wal := walk.next(); e != nil; e, wal = walk.next() {
		for err == nil && v != nil && v.Path < e.rel {
			unmatched(v)
			v, err = next()
		}
		if err != nil {
			return nil, fmt.Errorf("compare with live versions: %w", err)
		}
		var old *catalog.Version
		if v != nil && v.Path == e.rel {
			old = v
		}
		// A database's sidecars are never stored. A base sorts before its
		// sidecars (it is their prefix), so the merge knows whether it is
		// a database by the time it meets them.
		if e.base {
			if old != nil && r.fingerprintEqual(old, e, wal) {
				p.isDB[e.rel] = old.Capture == catalog.CaptureSQLite || old.Capture == catalog.CaptureSQLiteRaw
			} else {
				p.isDB[e.rel] = r.sniff(e.rel)
			}
		}
		if base, ok := sidecarBase(e.rel); ok && e.typ == typFile && p.isDB[base] {
			if old != nil {
				unmatched(old)
			}
		} else {
			p.walked++
			if e.typ == typFile {
				p.files++
				p.fileBytes += e.size
			}
			p.compareOne(r, e, wal, old)
		}
		if old != nil {
			v, err = next()
		}
	}
	for err == nil && v != nil {
		unmatched(v)
		v, err = next()
	}
	if err != nil {
		return nil, fmt.Errorf("compare with live versions: %w", err)
	}
	bigFirst(p.toRead, p.entries)
	return p, nil
}

// completeLive reads in full the live versions the comparison kept of
// what changed (the stream carried only what comparing needs). The
// fingerprint stays as the stream gave it: FpCtimeNs -1 marks a version
// whose content lies in a missing pack.
func (p *plan) completeLive(ctx context.Context, db *catalog.DB) error {
	if len(p.live) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(p.live))
	byID := make(map[int64]*catalog.Version, len(p.live))
	for _, v := range p.live {
		ids = append(ids, v.ID)
		byID[v.ID] = v
	}
	full, err := db.VersionsByID(ctx, ids)
	if err != nil {
		return fmt.Errorf("read changed live versions: %w", err)
	}
	if len(full) != len(ids) {
		return fmt.Errorf("read changed live versions: %d of %d found", len(full), len(ids))
	}
	for _, f := range full {
		v := byID[f.ID]
		fp := v.FpCtimeNs
		*v = *f // in place: p.reuse holds the same pointers
		v.FpCtimeNs = fp
	}
	return nil
}

// compareOne compares an entry with its live version, if any, and keeps
// it if it is new or changed.
func (p *plan) compareOne(r *run, e *entry, wal *walStat, old *catalog.Version) {
	switch {
	case old == nil:
		p.news++
	case old.Type != e.typ.String():
		p.changed++
	case e.typ == typFile:
		if r.fingerprintEqual(old, e, wal) {
			p.unchanged++
			p.unchangedBytes += old.Size
			return
		}
		// Read again; if the bytes and metadata turn out equal only the
		// fingerprint is refreshed.
	case old.Mode == e.mode && old.MtimeNs == e.mtimeNs && old.LinkTarget == e.link && sameOwner(old, e):
		p.unchanged++
		return
	default:
		p.changed++
	}
	i := len(p.entries)
	p.entries = append(p.entries, *e)
	if wal != nil {
		if p.wal == nil {
			p.wal = map[int]walStat{}
		}
		p.wal[i] = *wal
	}
	if old != nil {
		k := *old // the stream reuses old
		p.live[e.rel] = &k
		if e.typ == typFile && k.Type == catalog.TypeFile {
			p.reuse[i] = &k
		}
	}
	if e.typ == typFile {
		p.toRead = append(p.toRead, i)
	} else {
		p.metaOnly = append(p.metaOnly, i)
	}
}

// beneathAny reports whether path is one of dirs (sorted) or lies beneath one.
func beneathAny(path string, dirs []string) bool {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

// sniff reports whether the file at rel starts like a SQLite database.
func (r *run) sniff(rel string) bool {
	f, err := r.src.OpenFile(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(sqlitefile.Header))
	_, err = io.ReadFull(f, head)
	return err == nil && sqlitefile.IsDatabase(head)
}

// sameOwner reports whether a version's recorded owner is e's. A version
// recorded before owners were (-1) is taken as the same, so that upgrading
// does not record every directory again.
func sameOwner(v *catalog.Version, e *entry) bool {
	return v.UID < 0 || (v.UID == int64(e.uid) && v.GID == int64(e.gid))
}

// fingerprintEqual reports whether stat says a live file is unchanged. A
// database also compares its -wal file, since commits land there first.
func (r *run) fingerprintEqual(v *catalog.Version, e *entry, wal *walStat) bool {
	if v.Type != catalog.TypeFile || v.FpCtimeNs < 0 {
		return false
	}
	isDB := v.Capture == catalog.CaptureSQLite
	sizeOK := v.Size == e.size || isDB
	return sizeOK && v.Mode == e.mode && v.MtimeNs == e.mtimeNs && v.FpCtimeNs == e.ctimeNs && v.FpIno == e.ino &&
		v.FpExtra == dbExtra(isDB, e.size, wal)
}

// dbExtra is the extra fingerprint of a database: the size of its main
// file (its stored size is the backup copy's) and the state of its -wal.
func dbExtra(isDB bool, size int64, wal *walStat) string {
	if !isDB {
		return ""
	}
	w := "-"
	if wal != nil {
		w = fmt.Sprintf("%d:%d:%d", wal.size, wal.mtimeNs, wal.ino)
	}
	return fmt.Sprintf("size=%d wal=%s", size, w)
}
