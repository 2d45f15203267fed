package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// sqlGrowth bounds how much more memory `cairn sql` may use for ten times
// the rows: rows stream from SQLite to the output, so none. Held in memory,
// the million rows below took 610 MB as a table, 214 MB as CSV and 921 MB
// as JSON; streamed, 16-20 MB each. The bound is on growth, not on the
// peak, because a -race build (make test) starts several times higher.
const sqlGrowth = 64 << 20

// TestSQLStreamsInBoundedMemory runs a query of a million rows through the
// real binary in every format and bounds the child's peak RSS.
func TestSQLStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million rows through the binary, three times")
	}
	const rows = 1_000_000
	repo := filepath.Join(t.TempDir(), "repo")
	env := append(os.Environ(), "CAIRN_REPO="+repo, "CAIRN_NO_PROGRESS=1", "GORACE=atexit_sleep_ms=0")
	init := exec.Command("cairn", "init")
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("cairn init: %v\n%s", err, out)
	}
	query := func(rows int) string {
		return fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT %d) "+
			"SELECT i, printf('%%080d', i) AS padded FROM n", rows)
	}
	// peakRSS runs the query of n rows and returns the child's peak RSS.
	peakRSS := func(t *testing.T, format string, n int) (int64, *lineTail) {
		cmd := exec.Command("cairn", "sql", "--format", format, query(n))
		cmd.Env = env
		out := &lineTail{}
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("cairn sql: %v\n%s", err, stderr.Bytes())
		}
		return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10, out // KiB on Linux
	}
	padded := fmt.Sprintf("%080d", rows)
	for _, tc := range []struct {
		format string
		lines  int
		last   string // the last line
	}{
		{"table", rows + 1, fmt.Sprintf("%d  %s", rows, padded)},
		{"csv", rows + 1, fmt.Sprintf("%d,%s", rows, padded)},
		{"json", 4*rows + 2, "]"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			small, _ := peakRSS(t, tc.format, rows/10)
			peak, out := peakRSS(t, tc.format, rows)
			t.Logf("%d lines, peak RSS %d MB (%d MB for a tenth of the rows)", out.lines, peak>>20, small>>20)
			if out.lines != tc.lines || out.last() != tc.last {
				t.Errorf("%d lines ending %q; want %d ending %q", out.lines, out.last(), tc.lines, tc.last)
			}
			if peak-small > sqlGrowth {
				t.Errorf("peak RSS %d MB for %d rows, %d MB for %d: memory grows with the rows", peak>>20, rows, small>>20, rows/10)
			}
		})
	}
}

// lineTail counts the lines written to it and keeps the last one.
type lineTail struct {
	lines int
	cur   []byte // the line being written
	prev  []byte // the last complete line
}

func (l *lineTail) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.cur = append(l.cur, rest...)
			break
		}
		l.cur = append(l.cur, rest[:i]...)
		l.prev, l.cur = l.cur, l.prev[:0]
		l.lines++
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (l *lineTail) last() string { return strings.TrimSpace(string(l.prev)) }
