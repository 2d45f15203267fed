package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cairn-dev/cairn"
)

// progress is a status line on a terminal's stderr; nil (a no-op) when
// stderr is not a terminal or CAIRN_NO_PROGRESS is set.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool
}

func newProgress(w io.Writer) *progress {
	if !isTerminal(w) || os.Getenv("CAIRN_NO_PROGRESS") != "" {
		return nil
	}
	return &progress{w: w}
}

func (p *progress) snapshot(s cairn.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K%d/%d files read, %s", s.FilesDone, s.FilesToRead, size(s.BytesRead))
	p.shown = true
}

func (p *progress) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
