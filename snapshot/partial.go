package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/beneath"
	"github.com/cairn-dev/cairn/internal/ignore"
)

// A partial snapshot (Options.Changed) looks only at the paths a watcher
// saw change, and carries every other live version into the new snapshot
// untouched: a version's interval simply stays open, so "unchanged" costs
// nothing. Given every path that changed, it commits exactly what a full
// snapshot of the same tree would (TestPartialMatchesFull holds that).
//
// What it looks at, for each changed path p:
//   - p's directory is listed again (its mtime changed, and the listing
//     finds new and removed names, database sidecars beside p included);
//   - p itself is stat'ed, and listed when it is a directory;
//   - a directory that is new, or has a new inode (replaced, or renamed in
//     from elsewhere), is walked whole, since nothing about its contents
//     is known;
//   - a path that is gone (or now excluded) ends every live version at
//     and beneath it, and its parent is looked at in turn, so a removed
//     tree is found even when only a path deep inside it was named.
//
// It falls back to a full walk when it cannot know the answer from the
// changed paths alone: the source's first snapshot, a changed
// .cairnignore (the excludes changed for every path), Options.Include,
// packs recorded missing (files using them must be read again wherever
// they are), and live totals no remaining snapshot records.

// partialScan is what a partial snapshot saw.
type partialScan struct {
	entries    []entry
	unreadable []string
	// live holds the live versions of the paths looked at: those the
	// comparison may close or carry. Every other live version continues.
	live      map[string]*catalog.Version
	source    catalog.Source
	hasChunks bool
	// liveFiles counts every live file before the snapshot (the mass
	// deletion guard's denominator); restFiles and restBytes are the live
	// files outside the paths looked at, which the commit's totals add.
	liveFiles, restFiles, restBytes int64
}

// scanChanged looks at the changed paths, or returns nil when the
// snapshot must walk the whole source (see above).
func scanChanged(ctx context.Context, db *catalog.DB, src *beneath.Dir, ex *ignore.Matcher, skip map[string]bool,
	opts Options, warn func(path, kind, msg string)) (*partialScan, error) {
	if opts.Changed == nil || len(opts.Include) > 0 {
		return nil, nil
	}
	changed, ok := cleanChanged(opts.Changed)
	if !ok {
		return nil, nil
	}
	source, err := db.SourceByPath(ctx, src.Path())
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if missing, err := db.HasMissingPacks(ctx); err != nil || missing {
		return nil, err
	}
	totals, found, err := db.LiveTotalsOf(ctx, source.ID)
	if err != nil || !found {
		return nil, err
	}
	hasChunks, err := db.HasChunks(ctx)
	if err != nil {
		return nil, err
	}
	prefix := src.Path() + "/"
	if src.Path() == "/" {
		prefix = "/"
	}
	s := &partialScanner{ctx: ctx, db: db, sourceID: source.ID, src: src, ex: ex, skip: skip, prefix: prefix, warn: warn,
		entries: map[string]entry{}, live: map[string]*catalog.Version{}, looked: map[string]bool{}, listed: map[string]bool{}}
	queue := make([]string, 0, 2*len(changed))
	for _, p := range changed {
		queue = append(queue, p)
		if p != "." {
			queue = append(queue, path.Dir(p))
		}
	}
	for len(queue) > 0 {
		p := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if s.looked[p] {
			continue
		}
		s.looked[p] = true
		gone, err := s.look(p)
		if err != nil {
			return nil, err
		}
		if gone && p != "." {
			queue = append(queue, path.Dir(p))
		}
	}
	out := &partialScan{live: s.live, source: source, hasChunks: hasChunks, unreadable: s.unreadable, liveFiles: totals.Files,
		restFiles: totals.Files, restBytes: totals.Bytes}
	for _, v := range s.live {
		if v.Type == catalog.TypeFile {
			out.restFiles--
			out.restBytes -= v.Size
		}
	}
	anyFile := false
	for _, e := range s.entries {
		out.entries = append(out.entries, e)
		anyFile = anyFile || e.typ == typFile
	}
	if out.restFiles == 0 && !anyFile {
		// Possibly an empty source: the full walk decides that exactly.
		return nil, nil
	}
	sortEntries(out.entries)
	sort.Strings(out.unreadable)
	return out, nil
}

// cleanChanged turns the hint into clean source-relative paths; ok is
// false when it asks for a full walk (.cairnignore changed) or names a
// path outside the source.
func cleanChanged(changed []string) (out []string, ok bool) {
	for _, c := range changed {
		c = path.Clean(filepath.ToSlash(c))
		if c == ".." || strings.HasPrefix(c, "../") || path.IsAbs(c) {
			return nil, false
		}
		if c == ".cairnignore" {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

type partialScanner struct {
	ctx      context.Context
	db       *catalog.DB
	sourceID int64
	src      *beneath.Dir
	ex       *ignore.Matcher
	skip     map[string]bool
	prefix   string
	warn     func(path, kind, msg string)

	entries    map[string]entry
	unreadable []string
	live       map[string]*catalog.Version
	looked     map[string]bool // paths look has seen
	listed     map[string]bool // directories listed
	walked     []string        // directories walked whole
}

// look stats one path and records what it found; gone reports that the
// path is not there (or no longer belongs to the snapshot), so its parent
// is to be looked at.
func (s *partialScanner) look(p string) (gone bool, err error) {
	if s.beneathWalked(p) {
		return false, nil
	}
	if e, ok := s.entries[p]; ok && (e.typ != typDir || s.listed[p]) {
		return false, nil // a listing already saw it
	}
	if !s.included(p) {
		return true, s.endTree(p)
	}
	var st unix.Stat_t
	if err := s.lstat(p, &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			delete(s.entries, p)
			return true, s.endTree(p)
		}
		// As the full walk does: unreadable, and its live versions carry on.
		s.warn(p, KindUnreadable, fmt.Sprintf("skipped: %v", unwrapPathError(err)))
		s.unreadable = append(s.unreadable, p)
		return false, s.addLive(p)
	}
	e := statEntryAt(p, &st)
	isDir := e.typ == typDir
	if p != "." && (s.ex.Match(p, isDir) || (!isDir && strings.HasPrefix(path.Base(p), atomicfile.TempPrefix))) {
		return true, s.endTree(p)
	}
	switch e.typ {
	case typNone:
		s.warn(p, catalog.WarnSpecial, fmt.Sprintf("skipped %s (sockets, FIFOs and devices are not stored)", kindNameAt(st.Mode)))
		return true, s.endTree(p)
	case typSymlink:
		if e.link, err = s.readlink(p); err != nil {
			return true, s.endTree(p)
		}
	}
	s.entries[p] = e
	if !isDir {
		return false, s.endTree(p) // its live version, and a directory's tree it replaced
	}
	old, known := s.live[p]
	if !known {
		if old, err = s.db.LiveVersion(s.ctx, s.sourceID, p); err != nil {
			return false, err
		}
		if old != nil {
			s.live[p] = old
		}
	}
	if old != nil && old.Type == catalog.TypeDir && old.FpIno == e.ino {
		return false, s.list(p)
	}
	return false, s.walkTree(p)
}

// list reads one directory again: its entries are stat'ed and compared,
// new directories in it are walked whole, and live names no longer in it
// end with everything beneath them.
func (s *partialScanner) list(dir string) error {
	s.listed[dir] = true
	kids, err := s.db.LiveChildren(s.ctx, s.sourceID, dir)
	if err != nil {
		return err
	}
	liveKids := make(map[string]*catalog.Version, len(kids))
	for _, v := range kids {
		liveKids[v.Path] = v
		s.live[v.Path] = v
	}
	w := newWalker(s.prefix, s.src, s.ex, nil, s.skip, nil, s.warn)
	l := w.readDir(dirJob{rel: dir}, nil, &dirBuf{})
	found, subdirs, unreadable := l.entries, l.subdirs, l.unreadable
	s.unreadable = append(s.unreadable, unreadable...)
	onDisk := make(map[string]bool, len(found)+len(unreadable))
	for _, rel := range unreadable {
		onDisk[rel] = true
	}
	for _, e := range found {
		onDisk[e.rel] = true
		s.entries[e.rel] = e
		if old := liveKids[e.rel]; old != nil && old.Type == catalog.TypeDir && e.typ != typDir {
			if err := s.endTree(e.rel); err != nil { // a directory replaced by a file
				return err
			}
		}
	}
	if len(unreadable) > 0 && unreadable[0] == dir {
		return nil // the listing failed: its live children carry on
	}
	for _, v := range kids {
		if !onDisk[v.Path] && v.Type == catalog.TypeDir {
			if err := s.endTree(v.Path); err != nil {
				return err
			}
		}
	}
	for _, sd := range subdirs {
		e := s.entries[sd.job.rel]
		if old := liveKids[sd.job.rel]; old == nil || old.Type != catalog.TypeDir || old.FpIno != e.ino {
			if err := s.walkTree(sd.job.rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkTree walks a directory whole, as a full snapshot would, and loads
// every live version beneath it.
func (s *partialScanner) walkTree(dir string) error {
	if err := s.endTree(dir); err != nil {
		return err
	}
	s.walked = append(s.walked, dir)
	w := newWalker(s.prefix, s.src, s.ex, nil, s.skip, nil, s.warn)
	entries, unreadable := startWalk(w, dirJob{rel: dir}, nil).collect()
	for _, e := range entries {
		s.entries[e.rel] = e
	}
	s.unreadable = append(s.unreadable, unreadable...)
	return nil
}

// endTree loads the live versions at and beneath p: those of them the
// scan did not find on disk end in this snapshot.
func (s *partialScanner) endTree(p string) error {
	vs, err := s.db.LiveTree(s.ctx, s.sourceID, p)
	if err != nil {
		return err
	}
	for _, v := range vs {
		s.live[v.Path] = v
	}
	return nil
}

// addLive loads the live version of p alone.
func (s *partialScanner) addLive(p string) error {
	v, err := s.db.LiveVersion(s.ctx, s.sourceID, p)
	if err == nil && v != nil {
		s.live[p] = v
	}
	return err
}

func (s *partialScanner) beneathWalked(p string) bool {
	for _, d := range s.walked {
		if p == d || strings.HasPrefix(p, d+"/") || d == "." {
			return true
		}
	}
	return false
}

// included reports whether the full walk would reach p: no directory
// above it is excluded, and neither it nor one above is skipped (the
// repository). Whether p itself is excluded needs its type; look checks.
func (s *partialScanner) included(p string) bool {
	if p == "." {
		return true
	}
	if s.skip[s.prefix+p] {
		return false
	}
	for a := path.Dir(p); a != "."; a = path.Dir(a) {
		if s.ex.Match(a, true) || s.skip[s.prefix+a] {
			return false
		}
	}
	return true
}

// lstat stats p beneath the source, following no symlink on the way.
func (s *partialScanner) lstat(p string, st *unix.Stat_t) error {
	if p == "." {
		return unix.Fstat(s.src.Fd(), st)
	}
	d, err := s.src.OpenDir(path.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	return fstatat(d.Fd(), path.Base(p), st)
}

func (s *partialScanner) readlink(p string) (string, error) {
	d, err := s.src.OpenDir(path.Dir(p))
	if err != nil {
		return "", err
	}
	defer d.Close()
	link, _, err := readlinkat(d.Fd(), path.Base(p), nil)
	return link, err
}

// Excluded returns the rule by which a snapshot of root leaves paths out:
// root's .cairnignore and the extra patterns (Options.Excludes). A watcher
// uses it to spend no watches on excluded directories.
func Excluded(root string, extra []string) (func(rel string, isDir bool) bool, error) {
	patterns, err := ignore.ReadFile(filepath.Join(root, ".cairnignore"))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(root, ".cairnignore"), err)
	}
	m, err := ignore.New(append(patterns, extra...))
	if err != nil {
		return nil, err
	}
	return m.Match, nil
}
