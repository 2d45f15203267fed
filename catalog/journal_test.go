package catalog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
)

// testJournal keeps records in a map (the real one, metalog, belongs to
// the repository). crashNext makes the next Append store its record and
// then fail, as if the process died between the Append and the COMMIT
// (the Read that follows fails too: the process is gone). loseNext makes
// the next Append store its record and report an error, as a store whose
// response was lost does.
type testJournal struct {
	mu        sync.Mutex
	recs      map[int64][]byte
	crashNext bool
	loseNext  bool
	dead      bool
	appends   int
}

var errCrash = errors.New("simulated crash after the append")

func newTestJournal() *testJournal { return &testJournal{recs: map[int64][]byte{}} }

func (j *testJournal) Append(ctx context.Context, seq int64, rec []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if seq < 1 {
		return fmt.Errorf("seq %d", seq)
	}
	if _, ok := j.recs[seq]; ok {
		return fmt.Errorf("record %d: %w", seq, blobstore.ErrExists)
	}
	if _, ok := j.recs[seq-1]; !ok && seq > 1 {
		return fmt.Errorf("record %d appended before %d", seq, seq-1)
	}
	j.recs[seq] = slices.Clone(rec)
	j.appends++
	if j.crashNext {
		j.crashNext, j.dead = false, true
		return errCrash
	}
	if j.loseNext {
		j.loseNext = false
		return errors.New("response lost")
	}
	return nil
}

func (j *testJournal) Read(ctx context.Context, seq int64) ([]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.dead {
		j.dead = false
		return nil, errCrash
	}
	rec, ok := j.recs[seq]
	if !ok {
		return nil, fmt.Errorf("record %d: %w", seq, blobstore.ErrNotFound)
	}
	return slices.Clone(rec), nil
}

func (j *testJournal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.recs)
}

// openJournaled creates a catalog with journal j.
func openJournaled(t testing.TB, j Journal) *DB {
	t.Helper()
	db, _ := openNew(t)
	db.SetJournal(j)
	return db
}

// replicatedRows renders every replicated row of db, table by table, with
// each value's Go type (so that TEXT '1' and INTEGER 1 differ). Holds are
// compared without their ids: process holds, which are local, take ids
// between those of the holds warnings place.
func replicatedRows(t testing.TB, db *DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range checkpointTables {
		q := "SELECT * FROM " + tb.name + " ORDER BY " + tb.order
		if tb.where != "" {
			q = "SELECT * FROM " + tb.name + " WHERE " + tb.where + " ORDER BY " + tb.order
		}
		if tb.name == "hold" {
			q = "SELECT snapshot_id, reason, holder, pid, created_ns, expires_ns FROM hold WHERE holder IS NULL ORDER BY 1, 2, 5, 6"
		}
		rows, err := db.r.Query(q)
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
			var b strings.Builder
			for i, v := range vals {
				fmt.Fprintf(&b, "%s=%T:%v ", cols[i], v, v)
			}
			out[tb.name] = append(out[tb.name], b.String())
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sameRows fails the test where two catalogs' replicated rows differ.
func sameRows(t testing.TB, what string, want, got *DB) {
	t.Helper()
	defer func() {
		if t.Failed() {
			return
		}
		ws, wd, err1 := want.StateDigest(context.Background())
		gs, gd, err2 := got.StateDigest(context.Background())
		if err1 != nil || err2 != nil || ws != gs || wd != gd {
			t.Fatalf("%s: same rows, but StateDigest says seq %d %x / %d %x (%v, %v)", what, ws, wd, gs, gd, err1, err2)
		}
		var a, b bytes.Buffer
		if _, err := want.DumpState(context.Background(), &a); err != nil {
			t.Fatal(err)
		}
		if _, err := got.DumpState(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%s: same rows, but the checkpoints differ", what)
		}
	}()
	w, g := replicatedRows(t, want), replicatedRows(t, got)
	for _, tb := range checkpointTables {
		a, b := w[tb.name], g[tb.name]
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
				t.Fatalf("%s: table %s differs at row %d of %d/%d:\nlive    %s\nrebuilt %s", what, tb.name, i, len(a), len(b), x, y)
			}
		}
	}
}

func rebuild(t testing.TB, checkpoint []byte, j Journal) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rebuilt.db")
	var cp *bytes.Reader
	if checkpoint != nil {
		cp = bytes.NewReader(checkpoint)
	}
	var db *DB
	var err error
	if cp != nil {
		db, err = Rebuild(context.Background(), path, cp, j)
	} else {
		db, err = Rebuild(context.Background(), path, nil, j)
	}
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestJournalRecordsEveryChange(t *testing.T) {
	ctx := context.Background()
	j := newTestJournal()
	db := openJournaled(t, j)
	if _, err := db.InitMeta(ctx, map[string]string{"repository_format": "2", "chunker": "x"}); err != nil {
		t.Fatal(err)
	}
	// Already set: no write, no record.
	if _, err := db.InitMeta(ctx, map[string]string{"repository_format": "2", "chunker": "x"}); err != nil {
		t.Fatal(err)
	}
	ids := commitHistory(t, db)
	if err := db.SetTags(ctx, map[int64][]string{ids[0]: {"kept"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPolicy(ctx, "/src", `{"keep_last":2}`); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPacksMissing(ctx, []string{packName("2")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Forget(ctx, []int64{ids[1]}); err != nil {
		t.Fatal(err)
	}
	// 1 meta + 3 snapshots + tags + policy + missing + forget.
	if got, want := j.len(), 8; got != want {
		t.Fatalf("%d records, want %d", got, want)
	}
	seq, err := db.AppliedSeq(ctx)
	if err != nil || seq != 8 {
		t.Fatalf("AppliedSeq = %d, %v; want 8", seq, err)
	}
	// A forget of nothing changes no row and writes no record.
	if _, err := db.Forget(ctx, []int64{999}); err != nil {
		t.Fatal(err)
	}
	if j.len() != 8 {
		t.Fatalf("a forget of nothing wrote a record")
	}
	rebuilt := rebuild(t, nil, j)
	sameRows(t, "rebuilt from the log", db, rebuilt)
	// One changed value changes the digest.
	_, before, _ := rebuilt.StateDigest(ctx)
	if err := rebuilt.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE version SET fp_ino = fp_ino + 1 WHERE id = 1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, after, _ := rebuilt.StateDigest(ctx); after == before {
		t.Fatal("StateDigest did not change with a row")
	}
}

func TestNoJournalWritesNoSeq(t *testing.T) {
	db, _ := openNew(t)
	commitHistory(t, db)
	seq, err := db.AppliedSeq(context.Background())
	if err != nil || seq != 0 {
		t.Fatalf("AppliedSeq = %d, %v; want 0 without a journal", seq, err)
	}
	if n, err := db.CatchUp(context.Background()); n != 0 || err != nil {
		t.Fatalf("CatchUp without a journal = %d, %v", n, err)
	}
}

func TestConflictWritesNoRecord(t *testing.T) {
	ctx := context.Background()
	j := newTestJournal()
	db := openJournaled(t, j)
	commitHistory(t, db)
	before := j.len()
	// Snapshot 3 closed b.txt; closing it again is a conflict.
	live := liveByPath(t, db, "/src")
	c := &Commit{Source: "/src", Started: t0, Finished: t0, Close: []int64{live["a.txt"].ID, live["a.txt"].ID}}
	if _, err := db.CommitSnapshot(ctx, c); !errors.Is(err, ErrConflict) {
		t.Fatalf("CommitSnapshot = %v, want ErrConflict", err)
	}
	if j.len() != before {
		t.Fatalf("a conflicting commit wrote a record")
	}
	if err := db.SetTags(ctx, map[int64][]string{404: {"x"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetTags of no snapshot = %v", err)
	}
	if j.len() != before {
		t.Fatalf("a failed SetTags wrote a record")
	}
	if seq, _ := db.AppliedSeq(ctx); seq != int64(before) {
		t.Fatalf("AppliedSeq %d after failures, want %d", seq, before)
	}
}

// A record appended by a process that died before its COMMIT is applied
// by the next CatchUp, once; a second CatchUp finds nothing to do.
func TestCatchUpAppliesAppendedRecord(t *testing.T) {
	ctx := context.Background()
	j := newTestJournal()
	db := openJournaled(t, j)
	commitHistory(t, db)
	want := replicatedRows(t, db)
	j.crashNext = true
	c := &Commit{Source: "/src", Started: t0.Add(5 * time.Hour), Finished: t0.Add(5 * time.Hour), FileCount: 1, Label: "crashed"}
	if _, err := db.CommitSnapshot(ctx, c); !errors.Is(err, errCrash) {
		t.Fatalf("CommitSnapshot = %v, want the simulated crash", err)
	}
	if got := replicatedRows(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the crashed commit changed the catalog")
	}
	n, err := db.CatchUp(ctx)
	if err != nil || n != 1 {
		t.Fatalf("CatchUp = %d, %v; want 1", n, err)
	}
	snaps, err := db.Snapshots(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := snaps[len(snaps)-1]; last.Label != "crashed" || last.ID != 4 {
		t.Fatalf("newest snapshot after CatchUp: %+v", last)
	}
	if n, err := db.CatchUp(ctx); n != 0 || err != nil {
		t.Fatalf("second CatchUp = %d, %v; want 0", n, err)
	}
	sameRows(t, "rebuilt", db, rebuild(t, nil, j))
}

// A write that finds its seq taken (a record not applied here yet)
// catches up and tries again: two catalogs sharing one journal stay equal.
func TestSeqTakenCatchesUpAndRetries(t *testing.T) {
	ctx := context.Background()
	j := newTestJournal()
	a := openJournaled(t, j)
	b := openJournaled(t, j)
	commitHistory(t, a)
	if err := b.SetPolicy(ctx, "/src", `{"keep_last":1}`); err != nil {
		t.Fatalf("SetPolicy on the catalog behind: %v", err)
	}
	if seq, _ := b.AppliedSeq(ctx); seq != 4 {
		t.Fatalf("b applied %d, want 4", seq)
	}
	if _, err := a.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "two catalogs of one log", a, b)
}

func TestCatchUpStopsAtDamagedRecord(t *testing.T) {
	ctx := context.Background()
	j := newTestJournal()
	db := openJournaled(t, j)
	commitHistory(t, db)
	// Damage record 3 (the third snapshot): a rebuild applies 1 and 2 and
	// then reports the damage.
	j.recs[3] = j.recs[3][:len(j.recs[3])-2]
	path := filepath.Join(t.TempDir(), "rebuilt.db")
	if _, err := Rebuild(ctx, path, nil, j); !errors.Is(err, ErrRecord) {
		t.Fatalf("Rebuild over a damaged record = %v, want ErrRecord", err)
	}
	fresh := openJournaled(t, j)
	n, err := fresh.CatchUp(ctx)
	if !errors.Is(err, ErrRecord) || n != 2 {
		t.Fatalf("CatchUp = %d, %v; want 2 and ErrRecord", n, err)
	}
	if seq, _ := fresh.AppliedSeq(ctx); seq != 2 {
		t.Fatalf("applied %d, want 2", seq)
	}
}

// An Append whose response was lost after the record was stored: the
// catalog reads the record back, finds its own, and commits.
func TestAppendResponseLost(t *testing.T) {
	ctx := context.Background()
	j := newTestJournal()
	db := openJournaled(t, j)
	commitHistory(t, db)
	j.loseNext = true
	if err := db.SetPolicy(ctx, "/src", "{}"); err != nil {
		t.Fatalf("SetPolicy with a lost response: %v", err)
	}
	if seq, _ := db.AppliedSeq(ctx); seq != 4 || j.len() != 4 {
		t.Fatalf("applied %d of %d records, want 4 of 4", seq, j.len())
	}
	sameRows(t, "rebuilt", db, rebuild(t, nil, j))
}

func TestCheckpointRoundTrip(t *testing.T) {
	ctx := context.Background()
	j := newTestJournal()
	db := openJournaled(t, j)
	commitHistory(t, db)
	var cp bytes.Buffer
	seq, err := db.DumpState(ctx, &cp)
	if err != nil || seq != 3 {
		t.Fatalf("DumpState = %d, %v", seq, err)
	}
	if err := db.SetPolicy(ctx, "/src", "{}"); err != nil {
		t.Fatal(err)
	}
	got := rebuild(t, cp.Bytes(), j)
	sameRows(t, "checkpoint + tail", db, got)
	if s, _ := got.AppliedSeq(ctx); s != 4 {
		t.Fatalf("rebuilt catalog applied %d, want 4", s)
	}
	// A damaged checkpoint fails cleanly and leaves nothing at path.
	for _, cut := range []int{5, 17, cp.Len() / 2, cp.Len() - 1} {
		path := filepath.Join(t.TempDir(), "c.db")
		if _, err := Rebuild(ctx, path, bytes.NewReader(cp.Bytes()[:cut]), j); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("Rebuild from %d of %d checkpoint bytes = %v, want ErrCheckpoint", cut, cp.Len(), err)
		}
		if m, _ := filepath.Glob(path + "*"); len(m) > 0 {
			t.Errorf("a failed rebuild left %v", m)
		}
	}
	// Flipped bits fail cleanly or load something (zstd's frame has no
	// checksum of its own here; the seal in metalog authenticates it).
	for _, i := range []int{3, 16, 20, cp.Len() / 3, cp.Len() - 3} {
		d := slices.Clone(cp.Bytes())
		d[i] ^= 0x10
		path := filepath.Join(t.TempDir(), "c.db")
		if db, err := Rebuild(ctx, path, bytes.NewReader(d), j); err == nil {
			db.Close()
		}
	}
	// A format-1 catalog (no log) dumps at seq 0.
	plain, _ := openNew(t)
	commitHistory(t, plain)
	cp.Reset()
	if seq, err := plain.DumpState(ctx, &cp); err != nil || seq != 0 {
		t.Fatalf("DumpState without a log = %d, %v", seq, err)
	}
	sameRows(t, "checkpoint of a catalog without a log", plain, rebuild(t, cp.Bytes(), newTestJournal()))
}

func TestRebuildRefusesExistingPath(t *testing.T) {
	_, path := openNew(t)
	if _, err := Rebuild(context.Background(), path, nil, newTestJournal()); err == nil {
		t.Fatal("Rebuild over an existing catalog succeeded")
	}
}

// Every table is either replicated (in every checkpoint, changed only
// through records) or local; a migration that adds a table must say
// which. Replay's ids come from max(id)+1, so no table may use
// AUTOINCREMENT, whose sqlite_sequence a checkpoint does not carry.
func TestEveryTableClassified(t *testing.T) {
	db, _ := openNew(t)
	local := []string{"hold", "log_applied"} // hold: its holder IS NULL rows are checkpointed
	rows, err := db.r.Query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name == "sqlite_sequence" {
			t.Errorf("a table uses AUTOINCREMENT: replayed ids would not match the live ones after a checkpoint")
			continue
		}
		replicated := slices.ContainsFunc(checkpointTables, func(c checkpointTable) bool { return c.name == name })
		if !replicated && !slices.Contains(local, name) {
			t.Errorf("table %s is neither replicated (checkpointTables, records) nor local", name)
		}
	}
}

// Two processes on one catalog file: the first appends a record and dies
// before its COMMIT; the second's next write finds the seq taken, applies
// the record, and writes its own after it.
func TestCrashedRecordFoundByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	j := newTestJournal()
	a, path := openNew(t)
	a.SetJournal(j)
	commitHistory(t, a)
	b, err := Open(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetJournal(j)
	j.crashNext = true
	if err := a.SetTags(ctx, map[int64][]string{1: {"from-a"}}); !errors.Is(err, errCrash) {
		t.Fatalf("SetTags = %v, want the simulated crash", err)
	}
	if err := b.SetPolicy(ctx, "/src", `{"keep_last":9}`); err != nil {
		t.Fatalf("SetPolicy in the other process: %v", err)
	}
	if seq, _ := b.AppliedSeq(ctx); seq != 5 || j.len() != 5 {
		t.Fatalf("applied %d of %d records, want 5 of 5", seq, j.len())
	}
	s, err := b.SnapshotByID(ctx, 1)
	if err != nil || !slices.Equal(s.Tags, []string{"from-a"}) {
		t.Fatalf("snapshot 1 after the catch-up: %+v, %v", s, err)
	}
	sameRows(t, "rebuilt", b, rebuild(t, nil, j))
}
