package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestReplayProperty drives random sequences of every change the catalog
// knows (commits that add, change and remove files and reuse chunks,
// forgets with process holds in the way, policy and settings, tags, gc's
// drops and repacks, missing and recovered packs, conflicts) with
// simulated crashes between a record's Append and its COMMIT, then
// rebuilds the catalog from (a) the whole log, (b) a checkpoint taken
// midway plus the tail and (c) a checkpoint taken at the end, and compares
// every replicated row with the live catalog.
func TestReplayProperty(t *testing.T) {
	seeds, steps := 8, 80
	if testing.Short() {
		seeds, steps = 3, 40
	}
	runReplayProperty(t, seeds, steps, 0)
}

// TestReplayPropertyOlderLog: the first half of the log written as a
// cairn before several writers wrote it (record version 1: no writer map,
// ids assigned when applied, as max+1), the second as this one; a rebuild
// from that log gives the live rows, ids included.
func TestReplayPropertyOlderLog(t *testing.T) {
	defer func() { recordWriteVersion = recordVersion }()
	seeds, steps := 4, 80
	if testing.Short() {
		seeds, steps = 2, 40
	}
	runReplayProperty(t, seeds, steps, steps/2)
}

func runReplayProperty(t *testing.T, seeds, steps, v1Until int) {
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			p := newReplayRun(t, uint64(seed))
			var mid []byte
			for step := range steps {
				recordWriteVersion = recordVersion
				if step < v1Until {
					recordWriteVersion = 1
				}
				p.step()
				if step == steps/2 {
					var cp bytes.Buffer
					seq, err := p.db.DumpState(p.ctx, &cp)
					if err != nil {
						t.Fatal(err)
					}
					if applied, _ := p.db.AppliedSeq(p.ctx); applied != seq {
						t.Fatalf("checkpoint at seq %d, catalog applied %d", seq, applied)
					}
					mid = cp.Bytes()
				}
			}
			recordWriteVersion = recordVersion
			// The next open catches up with a record whose commit crashed.
			if _, err := p.db.CatchUp(p.ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d records (%d crashed before COMMIT), %d conflicts refused", p.j.len(), p.crashes, p.conflicts)
			sameRows(t, "whole log", p.db, rebuild(t, nil, p.j))
			sameRows(t, "checkpoint midway + tail", p.db, rebuild(t, mid, p.j))
			var end bytes.Buffer
			if _, err := p.db.DumpState(p.ctx, &end); err != nil {
				t.Fatal(err)
			}
			sameRows(t, "checkpoint at the end", p.db, rebuild(t, end.Bytes(), p.j))
			// The rebuilt catalog carries on as the live one does.
			again := rebuild(t, mid, p.j)
			// Its process holds are gone with the old catalog file.
			p.db, p.j.crashNext, p.holds = again, false, nil
			for range 10 {
				p.step()
			}
			if _, err := p.db.CatchUp(p.ctx); err != nil {
				t.Fatal(err)
			}
			sameRows(t, "a rebuilt catalog carried on", p.db, rebuild(t, nil, p.j))
		})
	}
}

type replayRun struct {
	t         *testing.T
	ctx       context.Context
	rng       *rand.Rand
	j         *testJournal
	db        *DB
	now       time.Time
	packs     int
	crashes   int
	conflicts int
	holds     []int64
}

var replaySources = []string{"/a", "/b"}

func newReplayRun(t *testing.T, seed uint64) *replayRun {
	p := &replayRun{t: t, ctx: context.Background(), rng: rand.New(rand.NewPCG(seed, 11)), j: newTestJournal(),
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p.db = openJournaled(t, p.j)
	p.db.Now = func() time.Time { return p.now }
	if _, err := p.db.InitMeta(p.ctx, map[string]string{"repository_format": "2", "chunker": "test", "created": "x"}); err != nil {
		t.Fatal(err)
	}
	return p
}

// ok accepts err when it is the simulated crash (the record stays in the
// log, the transaction rolled back) and then, half the time, catches up
// as the next open would; the other half leaves the record for the next
// write to find its seq taken.
func (p *replayRun) ok(what string, err error) bool {
	p.t.Helper()
	if errors.Is(err, errCrash) {
		p.crashes++
		if p.rng.IntN(2) == 0 {
			if _, err := p.db.CatchUp(p.ctx); err != nil {
				p.t.Fatalf("CatchUp after a crash in %s: %v", what, err)
			}
		}
		return false
	}
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return true
}

func (p *replayRun) step() {
	p.now = p.now.Add(time.Duration(1+p.rng.IntN(3600)) * time.Second)
	if p.rng.IntN(10) == 0 {
		p.j.crashNext = true
	}
	switch r := p.rng.IntN(100); {
	case r < 45:
		p.commit()
	case r < 52:
		p.forget()
	case r < 58:
		p.settings()
	case r < 63:
		p.tags()
	case r < 70:
		p.gc()
	case r < 75:
		p.repack()
	case r < 81:
		p.missing()
	case r < 88:
		p.hold()
	case r < 93:
		p.conflict()
	default:
		// A write that finds a crashed record's seq taken catches up
		// and retries.
		p.ok("policy", p.db.SetPolicy(p.ctx, p.source(), fmt.Sprintf(`{"keep_last":%d}`, p.rng.IntN(5))))
	}
}

func (p *replayRun) source() string { return replaySources[p.rng.IntN(len(replaySources))] }

// The chunks of content k: shared between contents, so that commits reuse
// chunks stored by earlier ones.
func contentChunks(k int) []int { return []int{k, k + 1, (k * 7) % 23} }

func chunkHash(x int) [32]byte   { return sum(fmt.Sprint("chunk ", x)) }
func contentHash(k int) [32]byte { return sum(fmt.Sprint("content ", k)) }

func (p *replayRun) live(source string) map[string]*Version {
	src, err := p.db.SourceByPath(p.ctx, source)
	if errors.Is(err, ErrNotFound) {
		return map[string]*Version{}
	}
	if err != nil {
		p.t.Fatal(err)
	}
	live, err := p.db.LiveVersions(p.ctx, src.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	return live
}

func (p *replayRun) snapshotIDs() []int64 {
	snaps, err := p.db.Snapshots(p.ctx, 0)
	if err != nil {
		p.t.Fatal(err)
	}
	var ids []int64
	for _, s := range snaps {
		ids = append(ids, s.ID)
	}
	return ids
}

func (p *replayRun) commit() {
	source := p.source()
	stale := p.behind()
	live := p.live(source)
	c := &Commit{Source: source, Started: p.now, Finished: p.now.Add(time.Duration(p.rng.IntN(5000)) * time.Millisecond),
		Label: []string{"", "manual"}[p.rng.IntN(2)], FileCount: int64(len(live)), TotalBytes: p.rng.Int64N(1 << 30)}
	if p.rng.IntN(5) == 0 {
		c.Tags = []string{"t", fmt.Sprint(p.rng.IntN(9))}
	}
	if p.rng.IntN(8) == 0 {
		c.Unreadable = 1
	}
	p.packs++
	pack := NewPack{Name: packName(fmt.Sprint(p.packs)), Size: 1000}
	newChunk := map[[32]byte]int{}
	contentIndex := map[int]int{}
	addContent := func(k int) int {
		if i, ok := contentIndex[k]; ok {
			return i
		}
		ct := NewContent{Hash: contentHash(k), Size: 300, Chunking: "cdc"}
		for _, x := range contentChunks(k) {
			h := chunkHash(x)
			if i, ok := newChunk[h]; ok {
				ct.Chunks = append(ct.Chunks, ChunkRef(-i-1))
				continue
			}
			if id, _, found, err := p.db.FindChunk(p.ctx, h[:]); err != nil {
				p.t.Fatal(err)
			} else if found {
				ct.Chunks = append(ct.Chunks, ChunkRef(id))
				continue
			}
			newChunk[h] = len(c.NewChunks)
			c.NewChunks = append(c.NewChunks, NewChunk{Hash: h, Offset: int64(8 + 100*len(c.NewChunks)), Length: 100, Size: 100,
				PlainOffset: int64(p.rng.IntN(2) * 50)})
			ct.Chunks = append(ct.Chunks, ChunkRef(-len(c.NewChunks)))
		}
		c.Contents = append(c.Contents, ct)
		contentIndex[k] = len(c.Contents) - 1
		return contentIndex[k]
	}
	file := func(path string) NewVersion {
		v := NewVersion{Content: addContent(p.rng.IntN(30)), Path: path, Type: TypeFile, Mode: 0o644, Size: 300,
			MtimeNs: p.now.UnixNano(), Capture: CaptureRaw, FpCtimeNs: p.now.UnixNano(), FpIno: p.rng.Uint64(), UID: -1, GID: -1}
		if p.rng.IntN(3) == 0 {
			v.JSONValid.Valid, v.JSONValid.Bool = true, p.rng.IntN(2) == 0
			v.JSONEntries.Valid, v.JSONEntries.Int64 = v.JSONValid.Bool, p.rng.Int64N(50)
		}
		if p.rng.IntN(2) == 0 {
			v.UID, v.GID = 1000, 100
		}
		return v
	}
	if live["."] == nil {
		c.Versions = append(c.Versions, NewVersion{Content: -1, Path: ".", Type: TypeDir, Mode: 0o755, UID: -1, GID: -1})
	}
	for _, path := range slices.Sorted(maps.Keys(live)) {
		v := live[path]
		if path == "." {
			continue
		}
		switch r := p.rng.IntN(20); {
		case r < 2: // removed
			c.Close = append(c.Close, v.ID)
		case r < 5 && v.Type == TypeFile: // changed
			c.Close = append(c.Close, v.ID)
			c.Versions = append(c.Versions, file(path))
		case r < 6: // read again, found equal
			c.Refresh = append(c.Refresh, Refresh{ID: v.ID, FpCtimeNs: p.now.UnixNano(), FpIno: p.rng.Uint64(), FpExtra: "r"})
		}
	}
	for range p.rng.IntN(4) {
		path := fmt.Sprintf("f%03d", p.rng.IntN(200))
		if live[path] != nil || slices.ContainsFunc(c.Versions, func(v NewVersion) bool { return v.Path == path }) {
			continue
		}
		if p.rng.IntN(6) == 0 {
			c.Versions = append(c.Versions, NewVersion{Content: -1, Path: path, Type: TypeSymlink, Mode: 0o777,
				LinkTarget: "f000", UID: -1, GID: -1})
		} else {
			c.Versions = append(c.Versions, file(path))
		}
	}
	if len(c.NewChunks) > 0 {
		c.Packs = []NewPack{pack}
	}
	if ids := p.snapshotIDs(); len(ids) > 0 && p.rng.IntN(4) == 0 {
		c.Warnings = append(c.Warnings, Warning{Path: "f001", Kind: WarnJSONEmptied, Message: "emptied", RefSnapshotID: ids[p.rng.IntN(len(ids))]})
	}
	if p.rng.IntN(6) == 0 {
		c.Warnings = append(c.Warnings, Warning{Path: "x", Kind: WarnVanished, Message: "gone"})
	}
	_, err := p.db.CommitSnapshot(p.ctx, c)
	if errors.Is(err, ErrConflict) && stale {
		// Built from live versions that a crashed record (applied by the
		// retry's catch-up) had already changed.
		p.conflicts++
		return
	}
	p.ok("commit", err)
}

// behind reports whether the log holds a record this catalog has not
// applied (a crashed commit's, not caught up yet).
func (p *replayRun) behind() bool {
	seq, err := p.db.AppliedSeq(p.ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	return int64(p.j.len()) > seq
}

// catchUpFirst is what gc's exclusive lock gives it: no change it did not
// see lands between its scan and its write.
func (p *replayRun) catchUpFirst() {
	if _, err := p.db.CatchUp(p.ctx); err != nil {
		p.t.Fatal(err)
	}
}

func (p *replayRun) forget() {
	ids := p.snapshotIDs()
	if len(ids) == 0 {
		return
	}
	var pick []int64
	for _, id := range ids {
		if p.rng.IntN(4) == 0 {
			pick = append(pick, id)
		}
	}
	var dead []int64
	if len(p.holds) > 0 && p.rng.IntN(2) == 0 {
		dead = []int64{p.holds[0]}
		p.holds = p.holds[1:]
	}
	_, _, err := p.db.ForgetUnheld(p.ctx, pick, dead)
	p.ok("forget", err)
}

// hold takes a process hold (local: it keeps a snapshot from ForgetUnheld
// and is in no record) or releases one.
func (p *replayRun) hold() {
	ids := p.snapshotIDs()
	if len(ids) == 0 {
		return
	}
	if len(p.holds) > 2 || p.rng.IntN(3) == 0 && len(p.holds) > 0 {
		if err := p.db.DropHolds(p.ctx, p.holds[:1]); err != nil {
			p.t.Fatal(err)
		}
		p.holds = p.holds[1:]
		return
	}
	got, err := p.db.AddHolds(p.ctx, []Hold{{SnapshotID: ids[p.rng.IntN(len(ids))], Reason: "restore", Holder: "host boot 1 2", PID: 1, Created: p.now}})
	if err != nil {
		p.t.Fatal(err)
	}
	p.holds = append(p.holds, got...)
}

func (p *replayRun) settings() {
	s := SourceSettings{}
	if p.rng.IntN(2) == 0 {
		s.Runtime = &[]string{"*.lock", fmt.Sprint("run", p.rng.IntN(3))}
	}
	if p.rng.IntN(2) == 0 {
		m := float64(p.rng.IntN(100)) / 100
		s.MassDeletion = &m
	}
	if p.rng.IntN(2) == 0 {
		x := []string{"", `{"patterns":["*.tmp"]}`}[p.rng.IntN(2)]
		s.Excludes = &x
	}
	if p.rng.IntN(3) == 0 {
		s.Replica = &[]Replica{{}, {Target: "/mnt/replica"}, {Target: "s3://b/p", Endpoint: "http://127.0.0.1:9"}}[p.rng.IntN(3)]
	}
	// A source that was never snapshotted gets its row here.
	src := p.source()
	if p.rng.IntN(5) == 0 {
		src = fmt.Sprint("/settings-only-", p.rng.IntN(3))
	}
	p.ok("settings", p.db.SetSourceSettings(p.ctx, src, s))
}

func (p *replayRun) tags() {
	ids := p.snapshotIDs()
	if len(ids) == 0 {
		return
	}
	tags := map[int64][]string{}
	for range 1 + p.rng.IntN(3) {
		tags[ids[p.rng.IntN(len(ids))]] = []string{fmt.Sprint("tag", p.rng.IntN(5))}
	}
	p.ok("tags", p.db.SetTags(p.ctx, tags))
}

// gc drops what nothing references, as gc's plan does.
func (p *replayRun) gc() {
	p.catchUpFirst()
	refs, err := p.db.ScanReferences(p.ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	var dead, empty []int64
	for _, pk := range refs.Packs {
		all := true
		for _, l := range refs.ByPack[pk.ID] {
			if !refs.Live[l.ID] {
				dead = append(dead, l.ID)
			} else {
				all = false
			}
		}
		if all {
			empty = append(empty, pk.ID)
		}
	}
	_, err = p.db.Drop(p.ctx, refs.UnusedContents, dead, empty)
	p.ok("drop", err)
}

// repack moves every chunk row of one pack into a new pack.
func (p *replayRun) repack() {
	p.catchUpFirst()
	refs, err := p.db.ScanReferences(p.ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	var full []Pack
	for _, pk := range refs.Packs {
		if len(refs.ByPack[pk.ID]) > 0 {
			full = append(full, pk)
		}
	}
	if len(full) == 0 {
		return
	}
	old := full[p.rng.IntN(len(full))]
	var moves []Move
	for i, l := range refs.ByPack[old.ID] {
		moves = append(moves, Move{ChunkID: l.ID, FromPack: old.ID, Offset: int64(8 + 100*i), Length: l.Length, PlainOffset: l.PlainOffset})
	}
	p.packs++
	_, err = p.db.Repacked(p.ctx, []int64{old.ID}, NewPack{Name: packName(fmt.Sprint(p.packs)), Size: 500}, moves)
	p.ok("repack", err)
}

func (p *replayRun) missing() {
	refs, err := p.db.ScanReferences(p.ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(refs.Packs) == 0 {
		return
	}
	pk := refs.Packs[p.rng.IntN(len(refs.Packs))]
	if pk.Missing {
		p.ok("present", p.db.SetPacksMissing(p.ctx, nil, []string{pk.Name}))
	} else {
		p.ok("missing", p.db.SetPacksMissing(p.ctx, []string{pk.Name}, nil))
	}
}

// conflict commits a snapshot that closes a version twice: it must fail
// with ErrConflict and write no record.
func (p *replayRun) conflict() {
	source := p.source()
	live := p.live(source)
	if len(live) == 0 {
		return
	}
	crash := p.j.crashNext
	p.j.crashNext = false
	defer func() { p.j.crashNext = crash }()
	before := p.j.len()
	var id int64
	for _, v := range live {
		id = v.ID
		break
	}
	_, err := p.db.CommitSnapshot(p.ctx, &Commit{Source: source, Started: p.now, Finished: p.now, Close: []int64{id, id}})
	if !errors.Is(err, ErrConflict) {
		p.t.Fatalf("closing a version twice: %v, want ErrConflict", err)
	}
	if p.j.len() != before {
		p.t.Fatalf("a conflicting commit wrote a record")
	}
}
