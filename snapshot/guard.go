package snapshot

import (
	"context"
	"fmt"

	"github.com/cairn-dev/cairn/catalog"
)

// guard warns about losses no format check catches: a JSON document that
// went from N entries to none, and a snapshot that removes a large share
// of the source's files. The warning names the last snapshot that still
// had the data.
func (r *run) guard(ctx context.Context, p *plan, results map[int]*captured, live map[string]*catalog.Version, sourceID int64, warn func(path, kind, msg string)) {
	if len(live) == 0 {
		return
	}
	last := int64(0)
	if snaps, err := r.DB.Snapshots(ctx, sourceID); err == nil && len(snaps) > 0 {
		last = snaps[len(snaps)-1].ID
	}
	for i, got := range results {
		old := live[p.entries[i].rel]
		if old == nil || !old.JSONEntries.Valid || old.JSONEntries.Int64 == 0 || got.jsonCount != 0 {
			continue
		}
		warn(p.entries[i].rel, "json-emptied", fmt.Sprintf("went from %d entries to 0; snapshot %d still has them (cairn restore --snapshot %d %s)",
			old.JSONEntries.Int64, last, last, r.path(p.entries[i].rel)))
	}
	var liveFiles, removedFiles int
	for _, v := range live {
		if v.Type == catalog.TypeFile {
			liveFiles++
		}
	}
	for _, v := range p.removed {
		if v.Type == catalog.TypeFile {
			removedFiles++
		}
	}
	if liveFiles > 0 && float64(removedFiles) > r.opts.MassDeletion*float64(liveFiles) {
		warn(".", "mass-deletion", fmt.Sprintf("%d of %d files (%.0f%%) were removed since snapshot %d, which still has them",
			removedFiles, liveFiles, 100*float64(removedFiles)/float64(liveFiles), last))
	}
}
