package metalog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/keys"
	"github.com/cairn-dev/cairn/metalog"
)

const repoID = "0123456789abcdef0123456789abcdef"

type fixture struct {
	dir  string
	objs *blobstore.LocalObjects
	keys *keys.Set
	log  *metalog.Log
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	objs, err := blobstore.NewLocalObjects(dir, filepath.Join(dir, "local", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.NewMaster()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Derive(m)
	if err != nil {
		t.Fatal(err)
	}
	l, err := metalog.New(objs, ks, repoID, "w1")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, objs: objs, keys: ks, log: l}
}

func rec(seq int64) []byte {
	return []byte(fmt.Sprintf("record %d %s", seq, strings.Repeat("x", int(seq%7)*100)))
}

func (f *fixture) appendN(t *testing.T, from, to int64) {
	t.Helper()
	for s := from; s <= to; s++ {
		if err := f.log.Append(context.Background(), s, rec(s)); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) path(key string) string { return filepath.Join(f.dir, filepath.FromSlash(key)) }

func TestAppendRead(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, 1, 12)
	for s := int64(1); s <= 12; s++ {
		got, err := f.log.Read(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, rec(s)) {
			t.Fatalf("record %d: got %q, want %q", s, got, rec(s))
		}
	}
	if _, err := f.log.Read(ctx, 13); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("read past the end: %v, want ErrNotFound", err)
	}
	if err := f.log.Append(ctx, 5, []byte("other")); !errors.Is(err, blobstore.ErrExists) {
		t.Fatalf("append at a taken seq: %v, want ErrExists", err)
	}
	if got, _ := f.log.Read(ctx, 5); !bytes.Equal(got, rec(5)) {
		t.Fatal("a refused append changed the record")
	}
	// Key order is seq order (zero-padded to 20 digits).
	recs, err := f.log.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range recs {
		if e.Seq != int64(i+1) {
			t.Fatalf("records listed out of order: %v", recs)
		}
	}
	if _, err := os.Stat(f.path("log/w1/00000000000000000010")); err != nil {
		t.Fatal(err)
	}
}

func TestReadGap(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, 1, 5)
	if err := os.Remove(f.path(metalog.RecordKey("w1", 3))); err != nil {
		t.Fatal(err)
	}
	_, err := f.log.Read(ctx, 3)
	if !errors.Is(err, metalog.ErrGap) || errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("read of a record missing in the middle: %v, want ErrGap (and not ErrNotFound, which ends a replay)", err)
	}
}

func TestTamperFailsToOpen(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, f *fixture)
		seq  int64
	}{
		{"flip a byte", func(t *testing.T, f *fixture) {
			p := f.path(metalog.RecordKey("w1", 2))
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			writeOver(t, p, b)
		}, 2},
		{"swap two records", func(t *testing.T, f *fixture) {
			a, b := f.path(metalog.RecordKey("w1", 2)), f.path(metalog.RecordKey("w1", 3))
			ba, _ := os.ReadFile(a)
			bb, _ := os.ReadFile(b)
			writeOver(t, a, bb)
			writeOver(t, b, ba)
		}, 2},
		{"another repository's record", func(t *testing.T, f *fixture) {
			other, err := metalog.New(f.objs, f.keys, "ffffffffffffffffffffffffffffffff", "w2")
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Append(ctx, 2, rec(2)); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(f.path(metalog.RecordKey("w2", 2)))
			writeOver(t, f.path(metalog.RecordKey("w1", 2)), b)
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.appendN(t, 1, 4)
			tc.do(t, f)
			if _, err := f.log.Read(ctx, tc.seq); !errors.Is(err, keys.ErrAuth) {
				t.Fatalf("read: %v, want keys.ErrAuth", err)
			}
			problems, err := f.log.Verify(ctx, appliedAt(4))
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) == 0 {
				t.Fatal("Verify found nothing")
			}
		})
	}
}

func writeOver(t *testing.T, p string, b []byte) {
	t.Helper()
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, 1, 6)
	if p, err := f.log.Verify(ctx, appliedAt(6)); err != nil || len(p) != 0 {
		t.Fatalf("Verify of a sound log: %v %v", p, err)
	}
	if p, _ := f.log.Verify(ctx, appliedAt(8)); len(p) != 1 || !strings.Contains(string(p[0]), "records 7-8 applied by the catalog but missing") {
		t.Fatalf("catalog ahead of the log: %v", p)
	}
	if p, _ := f.log.Verify(ctx, appliedAt(5)); len(p) != 1 || !strings.Contains(string(p[0]), "record 6 not applied") {
		t.Fatalf("log ahead of the catalog: %v", p)
	}
	os.Remove(f.path(metalog.RecordKey("w1", 3)))
	os.Remove(f.path(metalog.RecordKey("w1", 4)))
	if p, _ := f.log.Verify(ctx, appliedAt(6)); len(p) != 1 || !strings.Contains(string(p[0]), "records 3-4 missing") {
		t.Fatalf("gap: %v", p)
	}
}

// TestVerifyBesideACommand: a snapshot beside the check appends and
// applies a record while the check lists the log, before or after the
// listing. Neither is a problem of the log.
func TestVerifyBesideACommand(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, 1, 6)
	// Appended before the listing, applied after it.
	calls := 0
	p, err := f.log.Verify(ctx, func(context.Context) (int64, error) {
		calls++
		if calls == 1 {
			f.appendN(t, 7, 7)
			return 6, nil
		}
		return 7, nil
	})
	if err != nil || len(p) != 0 {
		t.Fatalf("a record appended during the check and applied by its end: %v %v", p, err)
	}
	// Appended and applied after the listing.
	calls = 0
	p, err = f.log.Verify(ctx, func(context.Context) (int64, error) {
		calls++
		if calls == 2 {
			f.appendN(t, 8, 8)
			return 8, nil
		}
		return 7, nil
	})
	if err != nil || len(p) != 0 {
		t.Fatalf("a record appended and applied after the listing: %v %v", p, err)
	}
}

func dumpOf(seq int64, state string) func(w io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		_, err := io.WriteString(w, state)
		return seq, err
	}
}

func TestCheckpointsAndPrune(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, 1, 10)
	if due, err := f.log.Due(ctx, 10); err != nil || due {
		t.Fatalf("Due after 10 small records: %v %v", due, err)
	}
	seq, state, _, err := f.log.Start(ctx)
	if err != nil || seq != 0 || state != nil {
		t.Fatalf("Start without checkpoints: %d %q %v", seq, state, err)
	}
	big := strings.Repeat("state ", 100000)
	for _, at := range []int64{4, 7, 10} {
		if got, err := f.log.WriteCheckpoint(ctx, dumpOf(at, fmt.Sprint(at, big))); err != nil || got != at {
			t.Fatalf("WriteCheckpoint %d: %d %v", at, got, err)
		}
	}
	// Compressed: 600 KB of repetitive state stores in a few KiB.
	cps, _ := f.log.Checkpoints(ctx)
	if len(cps) != 3 || cps[2].Size > 8<<10 {
		t.Fatalf("checkpoints: %v", cps)
	}
	seq, state, _, err = f.log.Start(ctx)
	if err != nil || seq != 10 || string(state) != fmt.Sprint(10, big) {
		t.Fatalf("Start: %d %v", seq, err)
	}
	rep, err := f.log.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 7 || rep.Checkpoints != 1 {
		t.Fatalf("Prune removed %+v, want records 1-7 and checkpoint 4", rep)
	}
	recs, _ := f.log.Records(ctx)
	if len(recs) != 3 || recs[0].Seq != 8 {
		t.Fatalf("records after prune: %v", recs)
	}
	if p, err := f.log.Verify(ctx, appliedAt(10)); err != nil || len(p) != 0 {
		t.Fatalf("Verify after prune: %v %v", p, err)
	}
	// A damaged newest checkpoint: Start falls back to the older one, and
	// the records after it are all still there.
	p := f.path(metalog.CheckpointKey("w1", 10))
	b, _ := os.ReadFile(p)
	b[50] ^= 0x80
	writeOver(t, p, b)
	seq, state, skipped, err := f.log.Start(ctx)
	if err != nil || seq != 7 || len(skipped) != 1 || !errors.Is(skipped[0], keys.ErrAuth) {
		t.Fatalf("Start with a damaged newest checkpoint: %d %v %v", seq, skipped, err)
	}
	for s := seq + 1; s <= 10; s++ {
		if _, err := f.log.Read(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := f.log.Verify(ctx, appliedAt(10)); len(p) != 1 {
		t.Fatalf("Verify with a damaged checkpoint: %v", p)
	}
}

func TestPruneNeedsTwoCheckpoints(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, 1, 5)
	f.log.WriteCheckpoint(ctx, dumpOf(5, "s"))
	if rep, err := f.log.Prune(ctx); err != nil || rep.Records != 0 {
		t.Fatalf("Prune with one checkpoint removed %+v %v", rep, err)
	}
}

func TestDue(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.log.WriteCheckpoint(ctx, dumpOf(0, "")) // seq 0: nothing to write
	if cps, _ := f.log.Checkpoints(ctx); len(cps) != 0 {
		t.Fatal("a checkpoint of an empty log was written")
	}
	if due, _ := f.log.Due(ctx, metalog.RecordsPerCheckpoint); !due {
		t.Fatal("not due after RecordsPerCheckpoint records")
	}
	// Bytes: a few large, incompressible records.
	big := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(big)
	for s := int64(1); s <= 5; s++ {
		big[0] = byte(s)
		if err := f.log.Append(ctx, s, big); err != nil {
			t.Fatal(err)
		}
	}
	if due, _ := f.log.Due(ctx, 3); due {
		t.Fatal("due after 3 MiB")
	}
	if due, _ := f.log.Due(ctx, 5); !due {
		t.Fatal("not due after 5 MiB")
	}
}

// TestDueByStateSize: a checkpoint by bytes is due only once the records
// past the newest checkpoint reach ReplayFactor times the state's size. A
// first big record alone (a first snapshot) is most of the state, so a
// checkpoint of it would duplicate it: not due, nor after small records
// (unchanged snapshots); growth to twice the biggest record is. After a
// checkpoint, its size is the state's: records past it must reach twice
// that, even when they pass BytesPerCheckpoint.
func TestDueByStateSize(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rng := rand.New(rand.NewSource(2))
	blob := func(n int) []byte { b := make([]byte, n); rng.Read(b); return b }
	first := blob(int(metalog.BytesPerCheckpoint) + 1<<20) // incompressible: stored size ~ len
	if err := f.log.Append(ctx, 1, first); err != nil {
		t.Fatal(err)
	}
	if due, err := f.log.Due(ctx, 1); err != nil || due {
		t.Fatalf("Due after one record past BytesPerCheckpoint (a first snapshot): %v %v", due, err)
	}
	for s := int64(2); s <= 20; s++ {
		if err := f.log.Append(ctx, s, rec(s)); err != nil {
			t.Fatal(err)
		}
	}
	if due, err := f.log.Due(ctx, 20); err != nil || due {
		t.Fatalf("Due after small records past a big first one: %v %v", due, err)
	}
	if err := f.log.Append(ctx, 21, blob(len(first))); err != nil {
		t.Fatal(err)
	}
	if due, err := f.log.Due(ctx, 21); err != nil || !due {
		t.Fatalf("not due after records of twice the biggest one: %v %v", due, err)
	}
	state := string(blob(3 * int(metalog.BytesPerCheckpoint)))
	if _, err := f.log.WriteCheckpoint(ctx, dumpOf(21, state)); err != nil {
		t.Fatal(err)
	}
	for s := int64(22); s <= 26; s++ {
		if err := f.log.Append(ctx, s, blob(1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	if due, err := f.log.Due(ctx, 26); err != nil || due {
		t.Fatalf("Due after 5 MiB past a checkpoint of 12 MiB: %v %v", due, err)
	}
	for s := int64(27); s <= 46; s++ {
		if err := f.log.Append(ctx, s, blob(1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	if due, err := f.log.Due(ctx, 46); err != nil || !due {
		t.Fatalf("not due after 25 MiB past a checkpoint of 12 MiB: %v %v", due, err)
	}
}

func TestSmallRecordOverhead(t *testing.T) {
	f := newFixture(t)
	if err := f.log.Append(context.Background(), 1, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	recs, _ := f.log.Records(context.Background())
	if want := int64(100 + 1 + keys.Overhead); recs[0].Size != want {
		t.Fatalf("a 100-byte record stored in %d bytes, want %d", recs[0].Size, want)
	}
}

func TestWriters(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, 1, 2)
	other, _ := metalog.New(f.objs, f.keys, repoID, "w0")
	other.Append(ctx, 1, []byte("x"))
	ws, err := metalog.Writers(ctx, f.objs)
	if err != nil || strings.Join(ws, ",") != "w0,w1" {
		t.Fatalf("Writers: %v %v", ws, err)
	}
}

// appliedAt is a catalog that has applied records up to seq.
func appliedAt(seq int64) func(context.Context) (int64, error) {
	return func(context.Context) (int64, error) { return seq, nil }
}

// TestBigIncompressibleRecord: a big record that does not compress (the
// catalog compressed it already) is stored raw without a zstd pass over
// the whole, which cost two more copies of it; a big one that does
// compress still is.
func TestBigIncompressibleRecord(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	big := make([]byte, 16<<20)
	rand.New(rand.NewSource(2)).Read(big)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := f.log.Append(ctx, 1, big); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// The stored body and its sealed form: two copies, and room for the
	// store's own handling of the object.
	if got := after.TotalAlloc - before.TotalAlloc; got > 3*uint64(len(big)) {
		t.Errorf("appending a %d-byte incompressible record allocated %d bytes", len(big), got)
	}
	compressible := bytes.Repeat([]byte("cairn record "), 2<<20)
	if err := f.log.Append(ctx, 2, compressible); err != nil {
		t.Fatal(err)
	}
	recs, _ := f.log.Records(ctx)
	if want := int64(len(big) + 1 + keys.Overhead); recs[0].Size != want {
		t.Errorf("incompressible record stored in %d bytes, want %d", recs[0].Size, want)
	}
	if recs[1].Size > int64(len(compressible))/10 {
		t.Errorf("compressible record of %d bytes stored in %d", len(compressible), recs[1].Size)
	}
	for seq, want := range map[int64][]byte{1: big, 2: compressible} {
		got, err := f.log.Read(ctx, seq)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read record %d: %v (equal %v)", seq, err, bytes.Equal(got, want))
		}
	}
}
