package snapshot

import (
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
// the stored paths). Only the live versions the snapshot must close,
// carry, read again or report are kept; the others are counted and
// dropped, so memory holds the walk and what changed, not the whole live
// set a second time (at 1M files that set, as a map, was 958 MiB and a
// quarter of an unchanged snapshot's time).

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

// plan is the comparison of the walk with the live versions.
type plan struct {
	entries  []entry
	all      []entry         // before sidecars were dropped, sorted by path
	isDB     map[string]bool // files known or sniffed to be databases
	toRead   []int           // indexes of entries whose bytes must be read
	reuse    map[int]*catalog.Version
	metaOnly []int // dirs and symlinks that are new or changed
	removed  []*catalog.Version
	// carried are live versions of paths that could not be read (or lie
	// beneath a directory that could not be): they are not known to be
	// gone, so they continue into this snapshot unchanged.
	carried []*catalog.Version
	// live holds the live versions of the entries in toRead and metaOnly;
	// unchanged entries have none here.
	live map[string]*catalog.Version
	// liveFiles counts the live regular files compared with (the mass
	// deletion guard's denominator), unchangedBytes their sizes where the
	// file is unchanged; hadLive reports any live version at all.
	liveFiles      int
	unchangedBytes int64
	hadLive        bool
	// unreadable marks entries (indexes into entries) whose read failed;
	// execute fills it.
	unreadable map[int]bool
	news       int
	changed    int
	unchanged  int
	racyAfter  int64
}

// find returns the entry at rel among all the walk found.
func (p *plan) find(rel string) (*entry, bool) {
	i, ok := slices.BinarySearchFunc(p.all, rel, func(e entry, t string) int { return strings.Compare(e.rel, t) })
	if !ok {
		return nil, false
	}
	return &p.all[i], true
}

// compare merges the walk's entries (sorted by sortEntries) with the live
// versions streamed in the same order.
func (r *run) compare(entries []entry, unreadable []string, live liveStream, started time.Time) (*plan, error) {
	p := &plan{entries: entries, all: entries, isDB: map[string]bool{}, reuse: map[int]*catalog.Version{},
		live: map[string]*catalog.Version{}, racyAfter: started.Add(-racyWindow).UnixNano()}
	// A database's sidecars are never stored: find the files that have
	// some beside them. A base sorts before its sidecars (it is their
	// prefix), so the merge knows whether it is a database by the time
	// it meets them.
	bases := map[string]bool{}
	for _, e := range entries {
		base, ok := sidecarBase(e.rel)
		if !ok || e.typ != typFile {
			continue
		}
		if b, ok := p.find(base); ok && b.typ == typFile {
			bases[base] = true
		}
	}
	unmatched := func(v *catalog.Version) {
		k := *v
		if beneathAny(v.Path, unreadable) {
			p.carried = append(p.carried, &k)
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
	var dropped []int // sidecars, indexes into all
	for i := range entries {
		e := &entries[i]
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
		if bases[e.rel] {
			if old != nil && r.fingerprintEqual(old, e, p) {
				p.isDB[e.rel] = old.Capture == catalog.CaptureSQLite || old.Capture == catalog.CaptureSQLiteRaw
			} else {
				p.isDB[e.rel] = r.sniff(e.rel)
			}
		}
		if base, ok := sidecarBase(e.rel); ok && e.typ == typFile && p.isDB[base] {
			dropped = append(dropped, i)
			if old != nil {
				unmatched(old)
			}
		} else {
			p.compareOne(r, i, e, old)
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
	if len(dropped) > 0 {
		p.dropSidecars(dropped)
	}
	bigFirst(p.toRead, p.entries)
	return p, nil
}

// compareOne compares entry i (of all) with its live version, if any.
func (p *plan) compareOne(r *run, i int, e *entry, old *catalog.Version) {
	switch {
	case old == nil:
		p.news++
	case old.Type != e.typ.String():
		p.changed++
	case e.typ == typFile:
		if r.fingerprintEqual(old, e, p) {
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

// dropSidecars removes the sidecar entries (indexes into all, ascending)
// from p.entries and renumbers the indexes that point into it.
func (p *plan) dropSidecars(dropped []int) {
	kept := make([]entry, 0, len(p.all)-len(dropped))
	newIdx := make(map[int]int, len(p.toRead)+len(p.metaOnly))
	d := 0
	for i, e := range p.all {
		if d < len(dropped) && dropped[d] == i {
			d++
			continue
		}
		newIdx[i] = len(kept)
		kept = append(kept, e)
	}
	for k, i := range p.toRead {
		p.toRead[k] = newIdx[i]
	}
	for k, i := range p.metaOnly {
		p.metaOnly[k] = newIdx[i]
	}
	reuse := make(map[int]*catalog.Version, len(p.reuse))
	for i, v := range p.reuse {
		reuse[newIdx[i]] = v
	}
	p.entries, p.reuse = kept, reuse
}

// walked reports whether the walk found path.
func (p *plan) walked(path string) bool {
	_, ok := p.find(path)
	return ok
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
func (r *run) fingerprintEqual(v *catalog.Version, e *entry, p *plan) bool {
	if v.Type != catalog.TypeFile || v.FpCtimeNs < 0 {
		return false
	}
	isDB := v.Capture == catalog.CaptureSQLite
	sizeOK := v.Size == e.size || isDB
	return sizeOK && v.Mode == e.mode && v.MtimeNs == e.mtimeNs && v.FpCtimeNs == e.ctimeNs && v.FpIno == e.ino &&
		v.FpExtra == p.dbExtra(isDB, e)
}

// dbExtra is the extra fingerprint of a database: the size of its main
// file (its stored size is the backup copy's) and the state of its -wal.
func (p *plan) dbExtra(isDB bool, e *entry) string {
	if !isDB {
		return ""
	}
	wal := "-"
	if w, ok := p.find(e.rel + "-wal"); ok {
		wal = fmt.Sprintf("%d:%d:%d", w.size, w.mtimeNs, w.ino)
	}
	return fmt.Sprintf("size=%d wal=%s", e.size, wal)
}
