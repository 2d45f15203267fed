package snapshot

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/secretname"
)

// DefaultMassDeletion is the share of a source's files whose removal in
// one snapshot warns, when the source sets none (Options.MassDeletion 0).
// Half: deleting most of a tree at once is rarely meant, while pruning a
// cache directory of a quarter of the files is ordinary.
const DefaultMassDeletion = 0.5

// guard warns about what no format check catches, at the time it happens:
// a JSON document that went from N entries to none (compared with the
// newest valid copy, not a torn one in between), a torn JSON file, a
// snapshot that removes a large share of the source's files, and a secret
// that others can read. A warning that a restore can undo names the
// snapshot to restore from (RefSnapshotID); messages say what happened in
// plain words and leave the command to the CLI.
func (r *run) guard(ctx context.Context, p *plan, results map[int]*captured, sourceID int64) []catalog.Warning {
	var out []catalog.Warning
	last := int64(0)
	if p.hadLive {
		if snaps, err := r.DB.Snapshots(ctx, sourceID); err == nil && len(snaps) > 0 {
			last = snaps[len(snaps)-1].ID
		}
	}
	for i, got := range results {
		rel := p.entries[i].rel
		if old := p.live[rel]; old != nil && old.Mode == got.e.mode && bytes.Equal(old.ContentHash, got.hash[:]) {
			continue // read again only to check: nothing new to say
		}
		if secretname.Match(rel) && got.e.mode&0o044 != 0 {
			out = append(out, catalog.Warning{Path: rel, Kind: catalog.WarnSecretReadable,
				Message: fmt.Sprintf("is readable by group or others (mode %04o), though its name marks it as a secret", got.e.mode&0o7777)})
		}
		if got.jsonValid == nil {
			continue
		}
		switch {
		case !*got.jsonValid:
			w := catalog.Warning{Path: rel, Kind: catalog.WarnJSONTorn,
				Message: "is not valid JSON (torn or half-written?); stored and marked invalid"}
			if v, snap := r.newestValid(ctx, sourceID, rel, p.live[rel]); v != nil {
				w.Message += fmt.Sprintf("; snapshot %d has the newest valid copy", snap)
				w.RefSnapshotID = snap
			}
			out = append(out, w)
		case got.jsonCount == 0:
			v, snap := r.newestValid(ctx, sourceID, rel, p.live[rel])
			if v == nil || !v.JSONEntries.Valid || v.JSONEntries.Int64 == 0 {
				continue
			}
			msg := fmt.Sprintf("went from %d entries to 0; snapshot %d still has them", v.JSONEntries.Int64, snap)
			if v.JSONEntries.Int64 == 1 {
				msg = fmt.Sprintf("went from 1 entry to 0; snapshot %d still has it", snap)
			}
			out = append(out, catalog.Warning{Path: rel, Kind: catalog.WarnJSONEmptied, RefSnapshotID: snap, Message: msg})
		}
	}
	liveFiles, removedFiles := p.liveFiles, 0
	if r.liveFiles > 0 {
		liveFiles = int(r.liveFiles) // a partial snapshot compared only what it looked at
	}
	for _, v := range p.removed {
		// A file an exclude now leaves out was not deleted.
		if v.Type == catalog.TypeFile && !r.x.excludedNow(r.ex, v) {
			removedFiles++
		}
	}
	if liveFiles > 0 && last != 0 && float64(removedFiles) > r.opts.MassDeletion*float64(liveFiles) {
		out = append(out, catalog.Warning{Path: ".", Kind: catalog.WarnMassDeletion, RefSnapshotID: last,
			Message: fmt.Sprintf("%d of %d files (%.0f%%) %s removed since snapshot %d, which still has them",
				removedFiles, liveFiles, 100*float64(removedFiles)/float64(liveFiles), wasWere(removedFiles), last)})
	}
	return out
}

// newestValid finds the newest valid JSON version of rel that a remaining
// snapshot still has, and the newest such snapshot: the live version when
// it is valid, else the history (the live one may be torn, or the file was
// deleted and is back). Lookup errors mean no warning rather than a failed
// snapshot.
func (r *run) newestValid(ctx context.Context, sourceID int64, rel string, live *catalog.Version) (*catalog.Version, int64) {
	if sourceID == 0 {
		return nil, 0 // the source's first snapshot: no history
	}
	candidates := []*catalog.Version{live}
	if live == nil || !live.JSONValid.Valid || !live.JSONValid.Bool {
		history, err := r.DB.History(ctx, sourceID, rel)
		if err != nil {
			return nil, 0
		}
		candidates = history
	}
	for _, v := range candidates {
		if !v.JSONValid.Valid || !v.JSONValid.Bool {
			continue
		}
		_, snap, err := r.DB.SnapshotRange(ctx, sourceID, v)
		if err != nil {
			return nil, 0
		}
		if snap != 0 {
			return v, snap
		}
	}
	return nil, 0
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}
