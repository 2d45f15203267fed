package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
)

// prefixJournal is a writer's log as another catalog has received it so
// far: the first n records.
type prefixJournal struct {
	j *testJournal
	n int64
}

func (p *prefixJournal) Append(context.Context, int64, []byte) error {
	return errors.New("read only")
}

func (p *prefixJournal) Read(ctx context.Context, seq int64) ([]byte, error) {
	if seq > p.n {
		return nil, fmt.Errorf("record %d: %w", seq, blobstore.ErrNotFound)
	}
	return p.j.Read(ctx, seq)
}

// mwWriter is one installation of the property test.
type mwWriter struct {
	id   string
	db   *DB
	j    *testJournal
	path string
}

// TestWritersConverge: two or three writers' catalogs each make random
// changes (snapshots that dedup against each other's chunks, forgets,
// policies, tags) and receive each other's records in random
// interleavings that keep each writer's own order. Once all records are
// everywhere, every catalog holds the same rows up to slot numbering, and
// a catalog rebuilt from the logs holds them too.
func TestWritersConverge(t *testing.T) {
	seeds := 8
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runConverge(t, uint64(seed), 2+seed%2, 40) })
	}
}

type tb interface {
	Helper()
	TempDir() string
	Errorf(string, ...any)
	Fatalf(string, ...any)
	Fatal(...any)
	Cleanup(func())
}

func runConverge(t tb, seed uint64, nw, steps int) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 99))
	ws := make([]*mwWriter, nw)
	for i := range ws {
		w := &mwWriter{id: fmt.Sprintf("w%c%d", 'a'+i, seed), j: newTestJournal()}
		w.path = filepath.Join(t.TempDir(), "catalog.db")
		db, err := Open(ctx, w.path, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.SetJournal(w.j)
		if err := db.SetWriter(ctx, w.id); err != nil {
			t.Fatal(err)
		}
		w.db = db
		ws[i] = w
	}
	// received[a][b]: how many of b's records a has applied.
	received := make([][]int64, nw)
	for i := range received {
		received[i] = make([]int64, nw)
	}
	exchange := func(a, b int, n int64) {
		have := int64(len(ws[b].j.recs))
		to := min(have, received[a][b]+n)
		if to <= received[a][b] {
			return
		}
		if _, err := ws[a].db.CatchUpWriter(ctx, ws[b].id, &prefixJournal{ws[b].j, to}); err != nil {
			t.Fatalf("writer %d applying writer %d's records to %d: %v", a, b, to, err)
		}
		received[a][b] = to
	}
	// Each writer's checkpoint halfway: a rebuild from any of them (its
	// own or another writer's) plus the logs must give the same rows.
	checkpoints := make([][]byte, nw)
	for step := range steps {
		if step == steps/2 {
			for i, w := range ws {
				var b bytes.Buffer
				if _, err := w.db.DumpState(ctx, &b); err != nil {
					t.Fatal(err)
				}
				checkpoints[i] = b.Bytes()
			}
		}
		i := rng.IntN(nw)
		w := ws[i]
		switch op := rng.IntN(10); {
		case op < 4:
			mwSnapshot(t, w, rng, step)
		case op == 4:
			mwForget(t, w, rng)
		case op == 5:
			if err := w.db.SetPolicy(ctx, "/src", fmt.Sprintf(`{"keep_last":%d}`, 1+rng.IntN(5))); err != nil {
				t.Fatal(err)
			}
		case op == 6:
			mwTag(t, w, rng)
		default:
			b := rng.IntN(nw)
			if b != i {
				exchange(i, b, int64(1+rng.IntN(4)))
			}
		}
	}
	for a := range ws {
		for b := range ws {
			if a != b {
				exchange(a, b, 1<<30)
			}
		}
	}
	want := normalDump(t, ws[0].db)
	for _, w := range ws[1:] {
		sameNormal(t, "writer "+w.id, want, normalDump(t, w.db))
	}
	// A rebuild from the logs: the writer's own, then the others'.
	for _, w := range ws {
		path := filepath.Join(t.TempDir(), "rebuilt.db")
		db, err := Rebuild(ctx, path, nil, w.j)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetWriter(ctx, w.id); err != nil {
			t.Fatal(err)
		}
		for _, o := range ws {
			if o != w {
				if _, err := db.CatchUpWriter(ctx, o.id, o.j); err != nil {
					t.Fatal(err)
				}
			}
		}
		sameNormal(t, "rebuild of "+w.id, want, normalDump(t, db))
		db.Close()
		for k, o := range ws {
			path := filepath.Join(t.TempDir(), "rebuilt.db")
			db, err := RebuildFrom(ctx, path, bytes.NewReader(checkpoints[k]), o.id, w.id, w.j)
			if err != nil {
				t.Fatalf("rebuild %s from the checkpoint of %s: %v", w.id, o.id, err)
			}
			for _, x := range ws {
				if x != w {
					if _, err := db.CatchUpWriter(ctx, x.id, x.j); err != nil {
						t.Fatal(err)
					}
				}
			}
			sameNormal(t, "rebuild of "+w.id+" from the checkpoint of "+o.id, want, normalDump(t, db))
			db.Close()
		}
	}
}

// mwSnapshot commits a random state of /src: files f0..f5 with contents
// from a pool every writer draws from, each of two chunks, so writers
// store chunks the others stored and dedup against what they received.
func mwSnapshot(t tb, w *mwWriter, rng *rand.Rand, step int) {
	t.Helper()
	ctx := context.Background()
	live := map[string]*Version{}
	if src, err := w.db.SourceByPath(ctx, "/src"); err == nil {
		if live, err = w.db.LiveVersions(ctx, src.ID); err != nil {
			t.Fatal(err)
		}
	}
	c := &Commit{Source: "/src", Started: t0.Add(timeStep(step)), Finished: t0.Add(timeStep(step))}
	pack := -1
	newChunk := map[[32]byte]int{}
	for f := range 6 {
		path := fmt.Sprintf("f%d", f)
		old := live[path]
		if rng.IntN(5) == 0 {
			if old != nil {
				c.Close = append(c.Close, old.ID)
			}
			continue
		}
		n := rng.IntN(8)
		hash := sum(fmt.Sprint("content ", n))
		if old != nil && slices.Equal(old.ContentHash, hash[:]) {
			continue
		}
		if old != nil {
			c.Close = append(c.Close, old.ID)
		}
		ct := NewContent{Hash: hash, Size: 2, Chunking: "cdc"}
		for k := range 2 {
			h := sum(fmt.Sprintf("chunk %d.%d", n, k))
			if id, _, found, err := w.db.FindChunk(ctx, h[:]); err != nil {
				t.Fatal(err)
			} else if found {
				ct.Chunks = append(ct.Chunks, ChunkRef(id))
				continue
			}
			if i, ok := newChunk[h]; ok {
				ct.Chunks = append(ct.Chunks, ChunkRef(-i-1))
				continue
			}
			if pack < 0 {
				pack = 0
				c.Packs = append(c.Packs, NewPack{Name: packName(fmt.Sprint(w.id, step)), Size: 100})
			}
			newChunk[h] = len(c.NewChunks)
			c.NewChunks = append(c.NewChunks, NewChunk{Hash: h, Pack: 0, Offset: int64(len(c.NewChunks)), Length: 1, Size: 1})
			ct.Chunks = append(ct.Chunks, ChunkRef(-len(c.NewChunks)))
		}
		c.Contents = append(c.Contents, ct)
		c.Versions = append(c.Versions, fileVersion(path, len(c.Contents)-1, 2))
	}
	if rng.IntN(4) == 0 {
		if ss, _ := w.db.Snapshots(ctx, 0); len(ss) > 0 {
			if s := ss[rng.IntN(len(ss))]; s.Writer == 0 {
				c.Warnings = append(c.Warnings, Warning{Path: "f0", Kind: "mass-deletion", Message: "m", RefSnapshotID: s.ID})
			}
		}
	}
	slices.SortFunc(c.Versions, func(a, b NewVersion) int { return strings.Compare(a.Path, b.Path) })
	if _, err := w.db.CommitSnapshot(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func timeStep(step int) time.Duration { return time.Duration(step) * time.Second }

func ownSnapshots(t tb, w *mwWriter) []int64 {
	ss, err := w.db.Snapshots(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, s := range ss {
		if s.Writer == 0 {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func mwForget(t tb, w *mwWriter, rng *rand.Rand) {
	if ids := ownSnapshots(t, w); len(ids) > 1 {
		if _, err := w.db.Forget(context.Background(), []int64{ids[rng.IntN(len(ids))]}); err != nil {
			t.Fatal(err)
		}
	}
}

func mwTag(t tb, w *mwWriter, rng *rand.Rand) {
	if ids := ownSnapshots(t, w); len(ids) > 0 {
		id := ids[rng.IntN(len(ids))]
		if err := w.db.SetTags(context.Background(), map[int64][]string{id: {fmt.Sprint("t", rng.IntN(3))}}); err != nil {
			t.Fatal(err)
		}
	}
}

// idColumns are the columns that hold row ids, which normalDump writes as
// WRITER:N.
var idColumns = map[string]bool{"id": true, "source_id": true, "snapshot_id": true, "pack_id": true, "content_id": true,
	"first_snapshot_id": true, "last_snapshot_id": true, "state_id": true, "live_state_id": true, "ref_snapshot_id": true}

// normalDump is every replicated row of db with its ids written as
// WRITER:N (slot numbering differs between catalogs), sorted per table.
func normalDump(t tb, db *DB) map[string][]string {
	t.Helper()
	ctx := context.Background()
	writers, err := db.Writers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := map[int64]string{}
	for _, w := range writers {
		name[w.Slot] = w.ID
	}
	norm := func(id int64) string {
		if id <= 0 {
			return fmt.Sprint(id)
		}
		return fmt.Sprintf("%s:%d", name[SlotOf(id)], LocalN(id))
	}
	out := map[string][]string{}
	highest, _ := db.Meta(ctx, "highest_snapshot_id")
	for _, w := range writers {
		var hs int64
		db.r.QueryRowContext(ctx, "SELECT highest_snapshot FROM writer WHERE slot = ?", w.Slot).Scan(&hs)
		h := norm(hs)
		if w.Slot == 0 && highest != "" {
			var n int64
			fmt.Sscan(highest, &n)
			h = norm(n)
		}
		adopted := "-"
		if w.AdoptedBy >= 0 {
			adopted = name[w.AdoptedBy]
		}
		out["writer"] = append(out["writer"], fmt.Sprintf("%s host=%q highest=%s adopted_by=%s", w.ID, w.Host, h, adopted))
	}
	for _, tb := range checkpointTables {
		switch tb.name {
		case "hold", "writer", "log_applied":
			continue
		}
		rows, err := db.r.QueryContext(ctx, "SELECT * FROM "+tb.name)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if tb.name == "meta" && vals[0] == "highest_snapshot_id" {
				continue
			}
			var b strings.Builder
			for i, v := range vals {
				c := cols[i]
				switch {
				case idColumns[c] && v != nil:
					fmt.Fprintf(&b, "%s=%s ", c, norm(v.(int64)))
				case tb.name == "source" && c == "writer":
					fmt.Fprintf(&b, "writer=%s ", name[v.(int64)])
				case tb.name == "content" && c == "chunks":
					list, err := DecodeChunkList(v.([]byte))
					if err != nil {
						t.Fatal(err)
					}
					var ns []string
					for _, id := range list {
						ns = append(ns, norm(id))
					}
					fmt.Fprintf(&b, "chunks=%v ", ns)
				default:
					fmt.Fprintf(&b, "%s=%v ", c, v)
				}
			}
			out[tb.name] = append(out[tb.name], b.String())
		}
		rows.Close()
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func sameNormal(t tb, what string, want, got map[string][]string) {
	t.Helper()
	for _, table := range []string{"writer", "meta", "source", "snapshot", "pack", "chunk", "content", "version", "warning"} {
		a, b := want[table], got[table]
		if slices.Equal(a, b) {
			continue
		}
		for i := range max(len(a), len(b)) {
			var x, y string
			if i < len(a) {
				x = a[i]
			}
			if i < len(b) {
				y = b[i]
			}
			if x != y {
				t.Fatalf("%s: table %s differs at row %d of %d/%d:\n want %s\n got  %s", what, table, i, len(a), len(b), x, y)
			}
		}
	}
}
