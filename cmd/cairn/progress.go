package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cairn-dev/cairn"
)

// progress is a status line on a terminal's stderr, after restic's: what
// is done of the total, the percentage and the time left, redrawn at most
// every progressEvery. newProgress returns nil (every method a no-op) when
// stderr is not a terminal or CAIRN_NO_PROGRESS is set, so output that is
// piped or logged never holds a status line.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	now   func() time.Time
	last  time.Time // when the line was last drawn
	shown int       // width of the line drawn, 0 when none is
	plain bool      // NO_COLOR: no escape sequences, blanks instead
}

const progressEvery = 200 * time.Millisecond

func newProgress(w io.Writer) *progress {
	if !isTerminal(w) || os.Getenv("CAIRN_NO_PROGRESS") != "" {
		return nil
	}
	return newProgressLine(w, time.Now)
}

// newProgressLine draws on w whatever it is (tests give a buffer).
func newProgressLine(w io.Writer, now func() time.Time) *progress {
	_, noColor := os.LookupEnv("NO_COLOR")
	return &progress{w: w, start: now(), now: now, plain: noColor}
}

// snapshot is SnapshotOptions.Progress: files are what snap knows the
// total of (the bytes to read are not known before they are read).
func (p *progress) snapshot(s cairn.Progress) {
	p.draw(false, fmt.Sprintf("snap: %d/%d files, %s read", s.FilesDone, s.FilesToRead, size(s.BytesRead)), s.FilesDone, s.FilesToRead)
}

// bytes returns a callback for a step that knows its total in bytes
// (restore, check --read-data, gc), drawn as "label: done / total".
func (p *progress) bytes(label string) func(done, total int64) {
	if p == nil {
		return nil
	}
	return func(done, total int64) {
		p.draw(done >= total, fmt.Sprintf("%s: %s / %s", label, size(done), size(total)), done, total)
	}
}

// draw redraws the line unless it was drawn less than progressEvery ago
// (force: the last report of a step).
func (p *progress) draw(force bool, what string, done, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !force && p.shown > 0 && now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	line := statusLine(what, done, total, now.Sub(p.start))
	if p.plain {
		// Carriage return, the line, and blanks over what is left of a
		// longer previous one.
		fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", max(0, p.shown-len(line))))
	} else {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	}
	p.shown = len(line)
}

// statusLine is "what, 30.0%, ETA 0:12": the time left is the time taken
// so far scaled by what is left, once something is done.
func statusLine(what string, done, total int64, elapsed time.Duration) string {
	if total <= 0 {
		return what
	}
	done = min(done, total)
	line := fmt.Sprintf("%s, %.1f%%", what, 100*float64(done)/float64(total))
	if done > 0 && done < total {
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		line += ", ETA " + clock(left)
	}
	return line
}

// clock renders a duration as restic's status does: m:ss, or h:mm:ss.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// clear removes the line, so that what is printed next starts clean.
func (p *progress) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown == 0 {
		return
	}
	if p.plain {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.shown))
	} else {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.shown = 0
}
