package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestStatusLine(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 100, 0, "x, 0.0%"},
		{25, 100, 10 * time.Second, "x, 25.0%, ETA 0:30"},
		{1, 1000, time.Minute, "x, 0.1%, ETA 16:39:00"},
		{100, 100, time.Second, "x, 100.0%"},
		{5, 0, time.Second, "x"},
	} {
		if got := statusLine("x", c.done, c.total, c.elapsed); got != c.want {
			t.Errorf("statusLine(%d, %d, %v) = %q, want %q", c.done, c.total, c.elapsed, got, c.want)
		}
	}
}

// The line is redrawn at most every progressEvery, except for the last
// report; clear removes it. NO_COLOR draws with blanks, not escapes.
func TestProgressLine(t *testing.T) {
	for _, noColor := range []bool{false, true} {
		if noColor {
			t.Setenv("NO_COLOR", "1")
		}
		var buf bytes.Buffer
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		p := newProgressLine(&buf, func() time.Time { return now })
		fn := p.bytes("restore")
		fn(1<<20, 4<<20)
		now = now.Add(50 * time.Millisecond)
		fn(2<<20, 4<<20) // too soon: not drawn
		now = now.Add(time.Second)
		fn(3<<20, 4<<20)
		fn(4<<20, 4<<20) // the last: drawn at once
		p.clear()
		out := buf.String()
		if n := strings.Count(out, "restore: "); n != 3 {
			t.Errorf("NO_COLOR=%v: drawn %d times, want 3: %q", noColor, n, out)
		}
		if !strings.Contains(out, "restore: 3.0 MiB / 4.0 MiB, 75.0%, ETA 0:00") || !strings.Contains(out, "restore: 4.0 MiB / 4.0 MiB, 100.0%") {
			t.Errorf("NO_COLOR=%v: %q", noColor, out)
		}
		if got := strings.Contains(out, "\033"); got == noColor {
			t.Errorf("NO_COLOR=%v: escape sequences %v: %q", noColor, got, out)
		}
		if !strings.HasSuffix(out, "\r") && !strings.HasSuffix(out, "\r\033[K") {
			t.Errorf("NO_COLOR=%v: the line is not cleared at the end: %q", noColor, out)
		}
	}
}

// Off a terminal, or with CAIRN_NO_PROGRESS, there is no line, and a nil
// progress is safe to call.
func TestNoProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	if p != nil {
		t.Fatal("progress on a buffer")
	}
	if fn := p.bytes("x"); fn != nil {
		t.Error("nil progress gave a callback")
	}
	p.clear()
}
