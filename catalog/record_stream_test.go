package catalog

import (
	"bytes"
	"reflect"
	"testing"
)

// TestStreamedRecord: a big snapshot record, compressed as it is encoded,
// holds the body the whole-body encoding holds, decodes to the record, and
// encodes the same way twice (a failed append compares what is stored).
func TestStreamedRecord(t *testing.T) {
	c := firstSnapshot(40_000) // a body of 4.9 MB: several pieces
	c.Warnings = fullCommit().Warnings
	c.Close, c.Refresh = fullCommit().Close, fullCommit().Refresh
	rec := &snapshotRecord{ID: 7, Commit: c}
	writers := []slotWriter{{slot: 1, id: "0123456789abcdef", seq: 12}}
	streamed := encodeRecord(rec, writers)

	saved := streamFrom
	streamFrom = 1 << 40
	whole := encodeRecord(rec, writers)
	streamFrom = saved
	if bytes.Equal(streamed, whole) {
		t.Fatal("the record was not streamed (streamFrom too high for the test?)")
	}

	_, kind, body, err := unframeRecord(streamed)
	if err != nil {
		t.Fatal(err)
	}
	_, wkind, wbody, err := unframeRecord(whole)
	if err != nil {
		t.Fatal(err)
	}
	if kind != kindSnapshot || wkind != kindSnapshot || !bytes.Equal(body, wbody) {
		t.Fatalf("streamed body (%d bytes, kind %d) differs from the whole body (%d bytes, kind %d)", len(body), kind, len(wbody), wkind)
	}
	if len(body) < 3*spillAt {
		t.Fatalf("body of %d bytes: the test wants several pieces of %d", len(body), spillAt)
	}
	got, gotWriters, err := decodeRecord(streamed)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := decodeRecord(whole)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotWriters, writers) {
		t.Fatal("the streamed record decodes to another record")
	}
	if again := encodeRecord(got, gotWriters); !bytes.Equal(again, streamed) {
		t.Fatal("the streamed record encodes differently twice")
	}
}
