package catalog

import (
	"bytes"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// fullCommit sets every field a snapshot record carries.
func fullCommit() *Commit {
	t1 := time.Date(2026, 12, 1, 22, 0, 0, 123, time.UTC)
	return &Commit{
		Source: "/home/u/.agent", Started: t1, Finished: t1.Add(1500 * time.Millisecond),
		Label: "nightly", Tags: []string{"a", "b"}, FileCount: 3, TotalBytes: 1 << 40, AddedBytes: 77, Unreadable: 1,
		Packs: []NewPack{{Name: packName("x"), Size: 16 << 20}, {Name: "not-hex", Size: 1}},
		NewChunks: []NewChunk{
			{Hash: sum("c1"), Pack: 0, Offset: 8, Length: 100, Size: 4096, PlainOffset: 0},
			{Hash: sum("c2"), Pack: 1, Offset: 3, Length: 10, Size: 40, PlainOffset: 4096},
		},
		Contents: []NewContent{
			{Hash: sum("f1"), Size: 4136, Chunking: "cdc", Chunks: []ChunkRef{-1, 7, -2, 7, 1 << 45}},
			{Hash: sum("empty"), Size: 0, Chunking: "fixed:4096"},
		},
		Versions: []NewVersion{
			{Content: -1, Path: ".", Type: TypeDir, Mode: 0o755, MtimeNs: -5, UID: 0, GID: 0, FpCtimeNs: -1},
			{Content: 0, Path: "dir/file.json", Type: TypeFile, Mode: 0o4755, Size: 4136, MtimeNs: 1 << 60,
				Capture: CaptureRaw, JSONValid: sql.NullBool{Valid: true, Bool: true}, JSONEntries: sql.NullInt64{Valid: true, Int64: 12},
				DBCheck: "ok", FpCtimeNs: 99, FpIno: 1 << 63, FpExtra: "wal 12 34", UID: 1000, GID: 1000},
			{Content: 1, Path: "dir/file.jsonl", Type: TypeFile, Mode: 0o600,
				JSONValid: sql.NullBool{Valid: true}, UID: -1, GID: -1},
			{Content: -1, Path: "dir/link", Type: TypeSymlink, Mode: 0o777, LinkTarget: "../x", UID: 5, GID: 6},
		},
		Close:    []int64{10, 3, 1 << 41},
		Refresh:  []Refresh{{ID: 4, FpCtimeNs: 5, FpIno: 6, FpExtra: "e"}, {ID: 2, FpCtimeNs: -1}},
		Warnings: []Warning{{Path: "dir/file.json", Kind: WarnJSONEmptied, Message: "went from 12 entries to 0", RefSnapshotID: 41}, {Path: "x", Kind: WarnVanished}},
	}
}

// allRecords has a record of every kind with every field set.
func allRecords() []record {
	return []record{
		&metaRecord{Keys: []string{"chunker", "created"}, Values: []string{"cdc 1 2 3", "2026-12-01T22:00:00Z"}},
		&snapshotRecord{ID: 42, Commit: fullCommit()},
		&snapshotRecord{ID: 1, Commit: &Commit{Source: "/s", Started: time.Unix(0, 0).UTC(), Finished: time.Unix(0, 0).UTC()}},
		&tagsRecord{IDs: []int64{1, 5, 9}, Tags: [][]string{{"x"}, nil, {"a", "b"}}},
		&settingsRecord{Source: "/s", Settings: SourceSettings{Policy: ptr(`{"keep_last":3}`), Runtime: ptr([]string{"*.lock", "run/"}),
			MassDeletion: ptr(0.25), Excludes: ptr(`{"patterns":["x"]}`), Replica: &Replica{Target: "s3://b/p", Endpoint: "http://127.0.0.1:7070"}}},
		&settingsRecord{Source: "/s", Settings: SourceSettings{Runtime: ptr([]string(nil))}},
		&forgetRecord{IDs: []int64{3, 1, 2}},
		&dropRecord{Contents: []int64{1, 2}, Dead: []int64{9, 8}, EmptyPacks: []int64{4}},
		&repackRecord{Old: []int64{1, 2}, New: NewPack{Name: packName("new"), Size: 99}, CreatedNs: 1e18,
			Moves: []Move{{ChunkID: 5, FromPack: 1, Offset: 8, Length: 3, PlainOffset: 2}, {ChunkID: 2, FromPack: 2, Offset: 11, Length: 4}}},
		&missingRecord{Now: 7, Missing: []string{packName("a")}, Present: []string{packName("b"), packName("c")}},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, rec := range allRecords() {
		b := encodeRecord(rec, nil)
		got, _, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("decode %T: %v", rec, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("%T round trip:\ngot  %+v\nwant %+v", rec, got, rec)
		}
		if again := encodeRecord(got, nil); !bytes.Equal(again, b) {
			t.Errorf("%T re-encodes differently", rec)
		}
	}
}

// TestRecordCoversFields fails when a field is added to a type a record
// carries: add it to the record's encode and decode (and to this list), or
// say here why a record does not need it. A field the encoding forgot
// would be on the live catalog and missing from every rebuilt one.
func TestRecordCoversFields(t *testing.T) {
	for _, c := range []struct {
		v       any
		encoded []string
		ignored []string // not stored by commit, or derived
	}{
		{Commit{}, []string{"Source", "Started", "Finished", "Label", "Tags", "FileCount", "TotalBytes", "AddedBytes", "Unreadable",
			"Packs", "NewChunks", "Contents", "Versions", "Close", "Refresh", "Warnings"},
			// the snapshot's view of gc plans: it decides content ids,
			// which are recorded
			[]string{"Condemned", "CondemnedChunks"}},
		{NewPack{}, []string{"Name", "Size"}, nil},
		{NewChunk{}, []string{"Hash", "Pack", "Offset", "Length", "Size", "PlainOffset"}, nil},
		{NewContent{}, []string{"Hash", "Size", "Chunking", "Chunks"}, nil},
		{NewVersion{}, []string{"Path", "Type", "Mode", "Size", "MtimeNs", "LinkTarget", "Capture", "JSONValid", "JSONEntries", "DBCheck",
			"FpCtimeNs", "FpIno", "FpExtra", "UID", "GID", "Content"}, nil},
		{Refresh{}, []string{"ID", "FpCtimeNs", "FpIno", "FpExtra"}, nil},
		{Warning{}, []string{"Path", "Kind", "Message", "RefSnapshotID"}, nil},
		{SourceSettings{}, []string{"Policy", "Runtime", "MassDeletion", "Excludes", "Replica"}, nil},
		{Replica{}, []string{"Target", "Endpoint"}, nil},
		{Move{}, []string{"ChunkID", "FromPack", "Offset", "Length", "PlainOffset"}, nil},
	} {
		typ := reflect.TypeOf(c.v)
		var fields []string
		for i := range typ.NumField() {
			fields = append(fields, typ.Field(i).Name)
		}
		known := append(slices.Clone(c.encoded), c.ignored...)
		slices.Sort(fields)
		slices.Sort(known)
		if !slices.Equal(fields, known) {
			t.Errorf("%s has fields %v; the record encoding knows %v", typ.Name(), fields, known)
		}
	}
}

// An unchanged snapshot's record is small: REMOTE.md's target is under
// 300 bytes, the limit 1 KiB.
func TestUnchangedSnapshotRecordSize(t *testing.T) {
	t1 := time.Date(2026, 12, 1, 22, 0, 0, 123456789, time.UTC)
	c := &Commit{Source: "/home/someone/.agent-state", Started: t1, Finished: t1.Add(412 * time.Millisecond),
		FileCount: 20002, TotalBytes: 381_000_000}
	b := encodeRecord(&snapshotRecord{ID: 1234, Commit: c}, nil)
	t.Logf("unchanged snapshot record: %d bytes", len(b))
	if len(b) > 100 {
		t.Errorf("unchanged snapshot record is %d bytes", len(b))
	}
	// A handful of refreshed fingerprints (racy timestamps) add a few
	// bytes each.
	for i := range 5 {
		c.Refresh = append(c.Refresh, Refresh{ID: int64(100000 + 37*i), FpCtimeNs: t1.UnixNano() + int64(i), FpIno: uint64(5_000_000 + i)})
	}
	b = encodeRecord(&snapshotRecord{ID: 1234, Commit: c}, nil)
	t.Logf("with 5 refreshed fingerprints: %d bytes", len(b))
	if len(b) > 300 {
		t.Errorf("record with 5 refreshes is %d bytes", len(b))
	}
}

// Every truncation of a record fails to decode, with ErrRecord, and no
// damage makes decoding panic.
func TestDecodeRecordDamaged(t *testing.T) {
	for _, rec := range allRecords() {
		b := encodeRecord(rec, nil)
		for n := range len(b) {
			if _, _, err := decodeRecord(b[:n]); !errors.Is(err, ErrRecord) {
				t.Fatalf("%T cut to %d of %d bytes: %v, want ErrRecord", rec, n, len(b), err)
			}
		}
		if _, _, err := decodeRecord(append(slices.Clone(b), 0)); b[2] == codecRaw && !errors.Is(err, ErrRecord) {
			t.Fatalf("%T with a byte appended: %v, want ErrRecord", rec, err)
		}
		for i := range len(b) {
			for _, bit := range []byte{1, 0x80} {
				d := slices.Clone(b)
				d[i] ^= bit
				decodeRecord(d) // must not panic; may decode to another record
			}
		}
	}
	if _, _, err := decodeRecord([]byte{3, byte(kindSnapshot), 0}); !errors.Is(err, ErrRecord) {
		t.Fatalf("a newer record version: %v", err)
	}
	if _, _, err := decodeRecord([]byte{1, 200, 0}); !errors.Is(err, ErrRecord) {
		t.Fatalf("an unknown kind: %v", err)
	}
}

// FuzzDecodeRecord: decoding never panics, every failure wraps ErrRecord,
// and what decodes encodes to bytes that decode to the same record.
func FuzzDecodeRecord(f *testing.F) {
	old := maxRecordBody
	maxRecordBody = 1 << 20 // the fuzzer would otherwise find zstd bombs
	f.Cleanup(func() { maxRecordBody = old })
	for _, rec := range allRecords() {
		f.Add(encodeRecord(rec, nil))
	}
	big := fullCommit()
	for i := range 20 {
		big.Versions = append(big.Versions, big.Versions[1])
		big.Versions[len(big.Versions)-1].Path += string(rune('a' + i))
	}
	f.Add(encodeRecord(&snapshotRecord{ID: 3, Commit: big}, nil)) // compressed
	f.Add([]byte{})
	f.Add([]byte{1, 2, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, _, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("decode error %v does not wrap ErrRecord", err)
			}
			return
		}
		// Compared as bytes, not with DeepEqual: a NaN survives the
		// round trip but is not equal to itself.
		enc := encodeRecord(rec, nil)
		again, _, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", rec, err)
		}
		if !bytes.Equal(encodeRecord(again, nil), enc) {
			t.Fatalf("re-encoded %T decodes differently:\n%+v\n%+v", rec, again, rec)
		}
	})
}
