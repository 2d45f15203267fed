package snapshot

import (
	"bytes"
	"io"
	"sort"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn/catalog"
)

// Preview is what a snapshot would do, found by a dry run (Options.DryRun):
// the walk and the comparison with the live versions, nothing read into the
// repository and nothing written.
type Preview struct {
	// Added, Removed and Changed are the paths (relative to the source)
	// that differ from the source's newest snapshot, each sorted. A file
	// whose stat changed is read and hashed: it is Changed only when its
	// bytes or mode did (a database, captured through SQLite, is Changed
	// whenever its stat did).
	Added, Removed, Changed []string
	// FilesToRead and BytesToRead are the files whose bytes the snapshot
	// would read and how many bytes they hold.
	FilesToRead int
	BytesToRead int64
	// Files and TotalBytes are the regular files and their bytes that the
	// snapshot would record.
	Files      int64
	TotalBytes int64
}

// preview turns the plan into a Preview. With hash, files whose stat
// changed are hashed to tell a real change from a touched one.
func (r *run) preview(p *plan, hash bool) *Preview {
	pv := &Preview{Added: []string{}, Removed: []string{}, Changed: []string{}}
	toRead, differs := map[int]bool{}, map[int]bool{}
	for _, i := range p.toRead {
		toRead[i], differs[i] = true, true
		pv.FilesToRead++
		pv.BytesToRead += p.entries[i].size
	}
	for _, i := range p.metaOnly {
		differs[i] = true
	}
	pv.Files, pv.TotalBytes = p.files, p.fileBytes
	for i, e := range p.entries {
		if e.rel == "." || !differs[i] {
			continue // unchanged
		}
		v := p.live[e.rel]
		switch {
		case v == nil:
			pv.Added = append(pv.Added, e.rel)
		case v.Type != e.typ.String() || v.Mode != e.mode || v.LinkTarget != e.link:
			pv.Changed = append(pv.Changed, e.rel)
		case e.typ == typFile && toRead[i]:
			if !hash || p.isDB[e.rel] || v.Capture == catalog.CaptureSQLite || !r.sameBytes(e.rel, v.ContentHash) {
				pv.Changed = append(pv.Changed, e.rel)
			}
		}
	}
	for _, v := range p.removed {
		pv.Removed = append(pv.Removed, v.Path)
	}
	sort.Strings(pv.Added)
	sort.Strings(pv.Removed)
	sort.Strings(pv.Changed)
	return pv
}

// sameBytes reports whether the file at rel hashes to want.
func (r *run) sameBytes(rel string, want []byte) bool {
	f, err := r.src.OpenFile(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), want)
}
