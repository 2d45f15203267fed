package cairn_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-dev/cairn"
)

// lostLogPuts stores every PUT of a log record but answers each with a
// 503, as a network that loses the responses would: the record is in the
// bucket, and the client never hears so.
type lostLogPuts struct {
	inner http.RoundTripper
	on    *atomic.Bool
	lost  *atomic.Int64
}

func (l lostLogPuts) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.inner.RoundTrip(req)
	if err != nil || !l.on.Load() || req.Method != http.MethodPut || !strings.Contains(req.URL.Path, "/log/") {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.lost.Add(1)
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req,
		Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(
			`<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>lost</Message></Error>`))}, nil
}

// TestRecordsWrittenCountsStoredAppend: an Append whose every attempt
// failed but whose record the store holds (the catalog reads it back and
// commits) is a record this process wrote. RecordsWritten must count it:
// the CLI's rebuild after a damaged catalog runs a snap again only when
// it is 0, and a second run would take a second snapshot.
func TestRecordsWrittenCountsStoredAppend(t *testing.T) {
	ctx := context.Background()
	loc, opts, h := remoteWithSnapshot(t, "written")

	var on atomic.Bool
	var lost atomic.Int64
	cairn.SetS3TransportForTest(func(rt http.RoundTripper) http.RoundTripper { return lostLogPuts{rt, &on, &lost} })
	t.Cleanup(func() { cairn.SetS3TransportForTest(nil) })
	repo, err := cairn.Open(ctx, loc, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	h.change(t, 1)
	on.Store(true)
	res, err := repo.Snapshot(ctx, h.src, cairn.SnapshotOptions{})
	on.Store(false)
	if err != nil {
		t.Fatalf("snapshot with its log PUT's responses lost: %v (the record is stored; the catalog reads it back)", err)
	}
	if lost.Load() == 0 {
		t.Fatal("no log PUT went through the lossy transport")
	}
	snaps, err := repo.Snapshots(ctx, cairn.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots after the second, want 2", len(snaps))
	}
	if n := repo.RecordsWritten(); n < 1 {
		t.Errorf("snapshot %d committed with its record in the log (%d responses lost), RecordsWritten = %d; want 1", res.ID, lost.Load(), n)
	}
}
