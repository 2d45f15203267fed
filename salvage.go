package cairn

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/metalog"
	"github.com/cairn-dev/cairn/snapshot"
)

// SalvageReport says what SalvageLog recovered and what is gone.
type SalvageReport struct {
	// Checkpoint is the checkpoint the replay started from (0: none);
	// Applied the last record replayed before the first one lost.
	Checkpoint, Applied int64
	// LostFrom..LostTo are the records that could not be replayed (a
	// missing or damaged one, and every one after it, which may depend on
	// it); their sealed bytes are kept in LostDir. Zero when none.
	LostFrom, LostTo int64
	LostDir          string
	// Damage is why the replay stopped.
	Damage error
	// LostSnapshots are the snapshots an older catalog file knew that the
	// salvaged catalog does not: those whose records are gone. Nil when no
	// older catalog could be read (then only the seqs say what is lost).
	LostSnapshots []Snapshot
	// OlderCatalog is the catalog file LostSnapshots come from.
	OlderCatalog string
	// Snapshots is how many snapshots the salvaged catalog holds.
	Snapshots int
	// Packs is how many pack footers were read; UnknownPacks hold chunks
	// no salvaged record names (UnknownChunks of them): the data of the
	// lost snapshots. The next snapshot takes back those its files still
	// have (as it resumes an interrupted one); gc removes the rest as
	// orphans once its grace period is over.
	Packs, UnknownPacks, UnknownChunks int
	// Aside is where the catalog file in place was moved ("": none).
	Aside string
}

// SalvageLog is the last resort when both the catalog and the log are
// damaged (cairn repair log --read-all-packs): it replays checkpoint and
// log as far as they are sound into a new catalog, reads every pack's
// footer to count the chunks no surviving record names, names the
// snapshots whose records are gone (from an older catalog file, when one
// can be read), and re-bases the log on the salvaged catalog, so that the
// repository works again; the lost records are kept in local/lost-records.
func SalvageLog(ctx context.Context, dir string, opts Options) (*SalvageReport, error) {
	r, err := openLogOnly(ctx, dir, opts, "")
	if err != nil {
		return nil, err
	}
	store := opts.Store
	if store == nil {
		if store, err = blobstore.NewLocal(filepath.Join(r.Dir, "packs"), r.tmpDir()); err != nil {
			return nil, fmt.Errorf("open packs of %s: %w", r.Dir, err)
		}
	}
	defer store.Close()
	lock, err := repolock.Acquire(ctx, filepath.Join(r.localDir, "lock"), repolock.Exclusive, "repository lock", r.waiting)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	return r.salvage(ctx, store)
}

// prefixJournal reads the log up to its first unreadable record, which it
// reports as the end: a replay through it stops there instead of failing.
type prefixJournal struct {
	*metalog.Log
	stoppedAt int64
	why       error
}

func (p *prefixJournal) Read(ctx context.Context, seq int64) ([]byte, error) {
	rec, err := p.Log.Read(ctx, seq)
	if err != nil && !errors.Is(err, blobstore.ErrNotFound) && ctx.Err() == nil {
		p.stoppedAt, p.why = seq, err
		return nil, fmt.Errorf("salvage: stop before record %d: %w", seq, blobstore.ErrNotFound)
	}
	return rec, err
}

func (r *Repo) salvage(ctx context.Context, store blobstore.Store) (*SalvageReport, error) {
	path := r.catalogPath()
	tmp := path + ".salvaged"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(tmp + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	rep := &SalvageReport{}
	seq, state, _, err := r.log.Start(ctx)
	if err != nil {
		return nil, err
	}
	rep.Checkpoint = seq
	var cp io.Reader
	if state != nil {
		cp = bytes.NewReader(state)
	}
	pj := &prefixJournal{Log: r.log}
	db, err := catalog.Rebuild(ctx, tmp, cp, pj, r.log.Writer())
	if err != nil {
		return nil, fmt.Errorf("%s: salvage the log: %w", r.Dir, err)
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	if rep.Applied, err = db.AppliedSeq(ctx); err != nil {
		return nil, err
	}
	last, err := r.log.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	rep.Damage = pj.why
	salvaged, err := db.Snapshots(ctx, 0)
	if err != nil {
		return nil, err
	}
	rep.Snapshots = len(salvaged)
	older := r.lostSnapshots(ctx, salvaged, rep.Applied)
	rep.LostSnapshots, rep.OlderCatalog = older.lost, older.path
	olderApplied := older.applied
	if olderApplied > last {
		// The newest records are gone: a catalog that applied them says
		// how far the log went.
		last = olderApplied
		if rep.Damage == nil {
			rep.Damage = fmt.Errorf("the log ends at record %d, the catalog had applied %d", rep.Applied, olderApplied)
		}
	}
	if last > rep.Applied {
		rep.LostFrom, rep.LostTo = rep.Applied+1, last
		if rep.LostDir, err = r.keepLost(ctx, rep.LostFrom, rep.LostTo); err != nil {
			return nil, err
		}
	}

	// Pack footers: what the packs hold that no salvaged record names.
	known := map[string]bool{}
	packs, err := db.Packs(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range packs {
		known[p.Name] = true
	}
	err = store.List(ctx, func(name string, _ int64) error {
		rep.Packs++
		if known[name] {
			return nil
		}
		entries, err := blobstore.ReadIndex(ctx, store, r.codec(), name)
		if err != nil {
			return nil // a damaged pack: check --read-data names it
		}
		rep.UnknownPacks++
		rep.UnknownChunks += len(entries)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read pack footers: %w", err)
	}
	if rep.UnknownPacks > 0 {
		// No record names those chunks any more, but their packs are
		// sealed and their footers say what they hold: the marker an
		// interrupted snapshot leaves makes the next snapshot take back
		// the chunks its files still have (resume.go) instead of storing
		// them again; gc keeps the packs for its grace period.
		// A marker that cannot be made costs that reuse, never the repair.
		if os.MkdirAll(r.tmpDir(), 0o700) == nil {
			_ = snapshot.NoteOrphans(r.tmpDir())
		}
	}

	// Re-base the log: the salvaged catalog continues after the newest
	// record, from a checkpoint of itself there, and never issues again a
	// snapshot id the older catalog had. (Both are written directly: the
	// checkpoint written next carries them, and the log starts from it.)
	if last > rep.Applied || older.highestID > 0 {
		err := db.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO log_applied(writer, seq) VALUES ('', ?) ON CONFLICT(writer) DO UPDATE SET seq = max(seq, excluded.seq)", last)
			if err == nil && older.highestID > 0 {
				_, err = tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('highest_snapshot_id', ?)
					ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`, older.highestID)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("re-base the log: %w", err)
		}
	}
	cpSeq, err := r.log.WriteCheckpoint(ctx, func(w io.Writer) (int64, error) { return db.DumpState(ctx, w) })
	if err != nil {
		return nil, err
	}
	if cpSeq > 0 {
		if _, err := r.log.PruneThrough(ctx, cpSeq); err != nil {
			return nil, err
		}
	}
	err = db.Close()
	db = nil
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		rep.Aside = asideName(path, r.now())
		if err := os.Rename(path, rep.Aside); err != nil {
			return nil, fmt.Errorf("move the old catalog aside: %w", err)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Rename(path+suffix, rep.Aside+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("move the old catalog aside: %w", err)
			}
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("install the salvaged catalog: %w", err)
	}
	if err := syncDir(r.localDir); err != nil {
		return nil, err
	}
	return rep, nil
}

// keepLost copies the sealed bytes of records from..to that exist into
// local/lost-records/, before the re-based log drops them.
func (r *Repo) keepLost(ctx context.Context, from, to int64) (string, error) {
	dir := filepath.Join(r.localDir, "lost-records", r.now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	recs, err := r.log.Records(ctx)
	if err != nil {
		return "", err
	}
	for _, e := range recs {
		if e.Seq < from || e.Seq > to {
			continue
		}
		b, err := r.objects.GetObject(ctx, metalog.RecordKey(r.log.Writer(), e.Seq))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d", e.Seq)), b, 0o600); err != nil {
			return "", err
		}
	}
	return dir, syncDir(dir)
}

// olderCatalog is what the best older catalog file knows.
type olderCatalog struct {
	lost      []Snapshot // its snapshots the salvaged catalog lacks
	path      string
	applied   int64 // the highest seq any of them applied
	highestID int64 // the highest snapshot id any of them issued
}

// lostSnapshots reads the catalog files in local/ (the one in place, and
// those earlier rebuilds moved aside) that applied records past the
// salvaged seq, and takes the one that knows the most snapshots the
// salvaged catalog lacks.
func (r *Repo) lostSnapshots(ctx context.Context, salvaged []catalog.Snapshot, salvagedSeq int64) olderCatalog {
	have := map[int64]bool{}
	for _, s := range salvaged {
		have[s.ID] = true
	}
	candidates, _ := filepath.Glob(r.catalogPath() + ".*.old")
	candidates = append([]string{r.catalogPath()}, candidates...)
	var o olderCatalog
	for _, c := range candidates {
		db, err := catalog.OpenReadOnly(ctx, c)
		if err != nil {
			continue
		}
		snaps, err := db.Snapshots(ctx, 0)
		seq, serr := db.AppliedSeq(ctx)
		highest, herr := db.Meta(ctx, "highest_snapshot_id")
		if err == nil && serr == nil && herr == nil && seq > salvagedSeq {
			var lost []Snapshot
			for _, s := range snaps {
				if !have[s.ID] {
					lost = append(lost, s)
				}
			}
			if o.path == "" || len(lost) > len(o.lost) {
				o.lost, o.path = lost, c
			}
			o.applied = max(o.applied, seq)
			var id int64
			fmt.Sscan(highest, &id)
			o.highestID = max(o.highestID, id)
		}
		db.Close()
	}
	sort.Slice(o.lost, func(i, j int) bool { return o.lost[i].ID < o.lost[j].ID })
	return o
}
