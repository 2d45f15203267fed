package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// Two-phase deletion. A host's snapshot may be deciding to reuse a chunk
// while a gc on another host decides the chunk is dead: no lock spans
// the two (snapshots take none across hosts). So gc never deletes a pack
// file in the run that finds it dead. It drops the catalog rows (a record
// in its log, so every writer learns of it) and writes a plan, an object
// gc/<stamp>-<token> that condemns the pack files; a later gc, holding
// the lease, deletes them once the plan is older than the grace period
// in store time, but only those that are still dead then: a pack that
// some catalog row names again (a record appended after the plan, by any
// writer, that names the pack: a snapshot that resumed from it, or
// another writer's snapshot that reused a chunk in it before it saw the
// plan) is revived, dropped from the plan and kept. A pack whose footer
// holds a chunk a content uses while the catalog keeps it nowhere that
// stays is kept too.
//
// Snapshots list gc/ (one LIST, the plans since the last one seen) and
// treat the chunks of condemned packs as absent: they store them again
// instead of referring to them (snapshot.Options.Condemned). A snapshot
// that listed before a plan was written may refer to its packs; it
// commits well within the grace period, and its record revives them.
// With a grace of 0 and a single writer, the plan is carried out in the
// run that writes it: today's immediate deletion.

const planPrefix = "gc/"

// Plan is the content of one plan object.
type Plan struct {
	Writer  string    `json:"writer"`
	Host    string    `json:"host"`
	Created time.Time `json:"created"` // the writing host's clock: for people only
	// Grace is the period the writing gc asked for; the gc that carries
	// a plan out applies its own.
	Grace time.Duration `json:"grace_ns"`
	// Packs are files no row names (orphans, the old files of repacked
	// packs): deleted unless a row names them again.
	Packs []Condemned `json:"packs"`
	// Drop is what the writing gc found dead in its own rows: dropped,
	// and the emptied packs' files deleted, only what is still dead when
	// the plan is carried out.
	Drop *Drops `json:"drop,omitempty"`
}

// Drops are rows of the writing gc's catalog (its ids), and the packs to
// repack, that a plan condemns.
type Drops struct {
	Contents []int64 `json:"contents,omitempty"`
	Chunks   []int64 `json:"chunks,omitempty"`
	// ChunkHashes name the same chunks for other writers' snapshots,
	// which treat them as absent (their catalogs number rows otherwise).
	ChunkHashes []string    `json:"chunk_hashes,omitempty"`
	EmptyPacks  []Condemned `json:"empty_packs,omitempty"`
	Repack      []Condemned `json:"repack,omitempty"`
}

// Condemned is a pack file a plan condemns, and why.
type Condemned struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Why is "orphan" (no row ever named it), "dead" (every chunk in it
	// was dropped) or "repacked" (its live chunks were copied out).
	Why string `json:"why"`
}

// storedPlan is a plan object as listed.
type storedPlan struct {
	key  string
	date time.Time // store time of its put
	plan Plan
}

// loadPlans reads every plan object. One that does not parse is
// reported and ignored: it condemns nothing (it was not written by this
// cairn, or was damaged), and deleting packs on its word would be a guess.
func loadPlans(ctx context.Context, o blobstore.Objects, rep *Report) ([]storedPlan, error) {
	var plans []storedPlan
	err := o.ListObjectsDated(ctx, planPrefix, func(key string, _ int64, date time.Time) error {
		plans = append(plans, storedPlan{key: key, date: date})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list gc plans: %w", err)
	}
	out := plans[:0]
	for _, sp := range plans {
		b, err := o.GetObject(ctx, sp.key)
		if errors.Is(err, blobstore.ErrNotFound) {
			continue // carried out meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read gc plan: %w", err)
		}
		if err := json.Unmarshal(b, &sp.plan); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("gc plan %s ignored: %v", sp.key, err))
			continue
		}
		out = append(out, sp)
	}
	return out, nil
}

// View is what a snapshot must treat as absent: pack files and chunks
// gc plans condemn.
type View struct {
	Packs  []string `json:"packs,omitempty"`
	Chunks []string `json:"chunks,omitempty"` // hex chunk ids
}

// ReadCondemned returns, per plan under gc/, what it condemns, for a
// snapshot to treat as absent. seen holds the plans read before, which
// are not read again: an unchanged repository costs the one LIST. The
// result replaces seen.
func ReadCondemned(ctx context.Context, o blobstore.Objects, seen map[string]View) (map[string]View, error) {
	now := map[string]View{}
	var fresh []string
	err := o.ListObjects(ctx, planPrefix, func(key string, _ int64) error {
		if v, ok := seen[key]; ok {
			now[key] = v
		} else {
			fresh = append(fresh, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list gc plans: %w", err)
	}
	for _, key := range fresh {
		b, err := o.GetObject(ctx, key)
		if errors.Is(err, blobstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read gc plan: %w", err)
		}
		var p Plan
		if json.Unmarshal(b, &p) != nil {
			continue
		}
		v := View{}
		for _, c := range p.Packs {
			v.Packs = append(v.Packs, c.Name)
		}
		if p.Drop != nil {
			for _, c := range p.Drop.EmptyPacks {
				v.Packs = append(v.Packs, c.Name)
			}
			v.Chunks = p.Drop.ChunkHashes
		}
		now[key] = v
	}
	return now, nil
}

// writePlan stores a plan and returns its key.
func writePlan(ctx context.Context, o blobstore.Objects, l *Lease, grace time.Duration, p Plan) (string, error) {
	h := l.Holder()
	p.Writer, p.Host, p.Created, p.Grace = h.Writer, h.Host, time.Now().UTC(), grace
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	// Keys sort by the writing host's clock, for people; ages come from
	// the store's dates.
	key := fmt.Sprintf("%s%020d-%s", planPrefix, time.Now().UnixNano(), h.Token)
	if err := o.PutObject(ctx, key, b); err != nil {
		return "", fmt.Errorf("write gc plan: %w", err)
	}
	return key, nil
}

// condemnedNames is every pack the plans condemn.
func condemnedNames(plans []storedPlan) map[string]bool {
	m := map[string]bool{}
	for _, sp := range plans {
		for _, c := range sp.plan.Packs {
			m[c.Name] = true
		}
		if sp.plan.Drop != nil {
			for _, c := range sp.plan.Drop.EmptyPacks {
				m[c.Name] = true
			}
		}
	}
	return m
}

// waiting counts what a plan not yet due holds.
func (sp storedPlan) waiting(rep *Report) {
	for _, c := range sp.plan.Packs {
		rep.WaitingPacks++
		rep.WaitingBytes += c.Size
	}
	if d := sp.plan.Drop; d != nil {
		for _, c := range d.EmptyPacks {
			rep.WaitingPacks++
			rep.WaitingBytes += c.Size
		}
		for _, c := range d.Repack {
			rep.WaitingPacks++
			rep.WaitingBytes += c.Size
		}
	}
}

// carryOut carries out the plans older than grace in store time, holding
// the lease, with every writer's records applied: it deletes their files
// that no row names again, drops their rows that are still dead (and
// deletes the files of packs left empty), and repacks their packs that are
// still worth it, condemning the old files in a new plan. fresh is the
// plan this run wrote (key freshKey, "" for none) as p, present: when it
// is the only one due (Grace 0) nothing changed since, and it is carried
// out as planned without reading the catalog again.
func carryOut(ctx context.Context, db *catalog.DB, store blobstore.Store, opts Options, freshKey string, fresh *plan, present map[string]int64, rep *Report) error {
	o, l := opts.Objects, opts.Lease
	plans, err := loadPlans(ctx, o, rep)
	if err != nil || len(plans) == 0 {
		return err
	}
	now, err := l.Now(ctx)
	if err != nil {
		return err
	}
	var due []storedPlan
	for _, sp := range plans {
		if now.Sub(sp.date) >= opts.Grace {
			due = append(due, sp)
		} else {
			sp.waiting(rep)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i].key < due[j].key })
	p := fresh
	var refs *catalog.References
	if len(due) != 1 || due[0].key != freshKey {
		// The references now, with every record appended since the
		// plans were written: what is live again stays.
		if refs, err = db.ScanReferences(ctx); err != nil {
			return err
		}
		if len(refs.Problems) > 0 {
			return fmt.Errorf("%w: the catalog contradicts itself: %s", ErrUnsafe, strings.Join(refs.Problems, "; "))
		}
		scratch := &Report{}
		cur, listed, err := makePlan(ctx, refs, store, opts, nil, scratch)
		if err != nil {
			return err
		}
		named := map[string]bool{}
		for _, pk := range refs.Packs {
			named[pk.Name] = true
		}
		p, present = intersect(cur, due, named, rep), listed
		rep.DeletedPacks += len(p.emptyPacks)
		if err := crossCheck(ctx, store, opts.Codec, refs, p, present, rep); err != nil {
			return err
		}
		rep.Problems = append(rep.Problems, scratch.Problems...)
	}
	// Files no row named when condemned: deleted unless one names them now.
	named := map[string]bool{}
	packs, err := db.Packs(ctx)
	if err != nil {
		return err
	}
	for _, pk := range packs {
		named[pk.Name] = true
	}
	// Packs whose rows an interrupted carry-out already dropped or moved
	// are files like the others now; a repacked one waits a grace period
	// more, as it would have (other catalogs may place chunks there).
	var unrowed []Condemned
	var files []Condemned
	for _, sp := range due {
		files = append(files, sp.plan.Packs...)
		if d := sp.plan.Drop; d != nil {
			for _, c := range d.EmptyPacks {
				if !named[c.Name] {
					files = append(files, c)
				}
			}
			for _, c := range d.Repack {
				if !named[c.Name] {
					unrowed = append(unrowed, c)
				}
			}
		}
	}
	if opts.Grace > 0 {
		if len(unrowed) > 0 {
			if _, err := writePlan(ctx, o, l, opts.Grace, Plan{Packs: unrowed}); err != nil {
				return err
			}
		}
	} else {
		files = append(files, unrowed...)
	}
	{
		for _, c := range files {
			if named[c.Name] {
				rep.Revived++ // a record named it again after the plan
				continue
			}
			if refs != nil {
				keep, err := stillNeeded(ctx, store, opts.Codec, refs, c.Name, rep)
				if err != nil {
					return err
				}
				if keep {
					continue
				}
			}
			if err := l.Check(); err != nil {
				return err
			}
			if err := store.Delete(ctx, c.Name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				return fmt.Errorf("delete condemned pack %s: %w", c.Name, err)
			}
			rep.RemovedPacks++
			rep.BytesFreed += c.Size
		}
	}
	// Rows still dead, and the files of the packs they leave empty.
	if err := l.Check(); err != nil {
		return err
	}
	if len(p.contents)+len(p.dead)+len(p.emptyPacks) > 0 {
		if err := dropDead(ctx, db, store, p, rep); err != nil {
			return err
		}
	}
	// Repacks: the old files stay a grace period more (other writers'
	// catalogs place the moved chunks there until they read the repack
	// record), in a plan of their own; with Grace 0 they go now.
	old, rerr := rewrite(ctx, db, store, opts.Codec, mergeable(p.repacks), opts.PackTarget, opts.Progress, opts.Grace > 0, rep)
	if len(old) > 0 {
		if _, err := writePlan(ctx, o, l, opts.Grace, Plan{Packs: old}); err != nil {
			return errors.Join(rerr, err)
		}
		for _, c := range old {
			rep.WaitingPacks++
			rep.WaitingBytes += c.Size
		}
	}
	if rerr != nil {
		return rerr
	}
	for _, sp := range due {
		if err := l.Check(); err != nil {
			return err
		}
		if err := o.DeleteObject(ctx, sp.key); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("remove carried out gc plan: %w", err)
		}
	}
	return nil
}

// subtract removes from p what pending plans condemn already: they are
// carried out when they are old enough, and a new plan would only repeat
// them.
func subtract(p *plan, pending []storedPlan) {
	contents, chunks, packs := map[int64]bool{}, map[int64]bool{}, map[string]bool{}
	for _, sp := range pending {
		for _, c := range sp.plan.Packs {
			packs[c.Name] = true
		}
		if d := sp.plan.Drop; d != nil {
			for _, id := range d.Contents {
				contents[id] = true
			}
			for _, id := range d.Chunks {
				chunks[id] = true
			}
			for _, c := range append(slices.Clone(d.EmptyPacks), d.Repack...) {
				packs[c.Name] = true
			}
		}
	}
	p.contents = slices.DeleteFunc(p.contents, func(id int64) bool { return contents[id] })
	p.dead = slices.DeleteFunc(p.dead, func(id int64) bool { return chunks[id] })
	p.orphans = slices.DeleteFunc(p.orphans, func(name string) bool { return packs[name] })
	p.emptyPacks = slices.DeleteFunc(p.emptyPacks, func(e catalog.Pack) bool { return packs[e.Name] })
	p.repacks = slices.DeleteFunc(p.repacks, func(r repack) bool { return packs[r.pack.Name] })
}

// intersect keeps of cur (what is dead now) what the due plans condemned:
// the rest was condemned by no plan old enough, or is live again
// (counted as revived).
func intersect(cur *plan, due []storedPlan, named map[string]bool, rep *Report) *plan {
	contents, chunks, empty, repack := map[int64]bool{}, map[int64]bool{}, map[string]bool{}, map[string]bool{}
	for _, sp := range due {
		d := sp.plan.Drop
		if d == nil {
			continue
		}
		for _, id := range d.Contents {
			contents[id] = true
		}
		for _, id := range d.Chunks {
			chunks[id] = true
		}
		for _, c := range d.EmptyPacks {
			empty[c.Name] = true
		}
		for _, c := range d.Repack {
			repack[c.Name] = true
		}
	}
	p := &plan{}
	for _, id := range cur.contents {
		if contents[id] {
			p.contents = append(p.contents, id)
		}
	}
	for _, id := range cur.dead {
		if chunks[id] {
			p.dead = append(p.dead, id)
		}
	}
	stillEmpty := map[string]bool{}
	for _, e := range cur.emptyPacks {
		if empty[e.Name] {
			p.emptyPacks = append(p.emptyPacks, e)
			stillEmpty[e.Name] = true
		}
	}
	stillRepack := map[string]bool{}
	for _, r := range cur.repacks {
		if repack[r.pack.Name] {
			p.repacks = append(p.repacks, r)
			stillRepack[r.pack.Name] = true
		}
	}
	for name := range empty {
		if !stillEmpty[name] && named[name] {
			rep.Revived++ // a record uses a chunk of it again
		}
	}
	for name := range repack {
		if !stillRepack[name] && named[name] {
			rep.Revived++
		}
	}
	return p
}

// stillNeeded reads a condemned file's footer: one that lists a chunk a
// content uses that the catalog keeps only in a pack recorded missing is
// kept, and so is one whose footer cannot be read.
func stillNeeded(ctx context.Context, store blobstore.Store, codec *blobstore.Codec, refs *catalog.References, name string, rep *Report) (bool, error) {
	entries, err := blobstore.ReadIndex(ctx, store, codec, name)
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		return false, nil // deleted already (a run killed after it)
	case errors.Is(err, blobstore.ErrCorrupt):
		rep.Problems = append(rep.Problems, fmt.Sprintf("condemned pack %s left as it is: %v", name, err))
		return true, nil
	case err != nil:
		return false, err
	}
	homeOK := map[int64]bool{}
	for _, pk := range refs.Packs {
		homeOK[pk.ID] = !pk.Missing
	}
	if needed(entries, refs, homeOK) {
		rep.Revived++
		rep.Problems = append(rep.Problems, fmt.Sprintf("condemned pack %s kept: it holds a chunk a file uses that the catalog keeps nowhere else", name))
		return true, nil
	}
	return false, nil
}

// needed reports whether a footer lists a chunk that a content uses and
// that the catalog keeps only in a pack recorded missing.
func needed(entries []blobstore.Entry, refs *catalog.References, homeOK map[int64]bool) bool {
	for _, e := range entries {
		if home, live := refs.Home[e.ID]; live && !homeOK[home] {
			return true
		}
	}
	return false
}
