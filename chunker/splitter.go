package chunker

import "io"

// Splitter yields consecutive chunks of a stream.
type Splitter interface {
	// Next returns the next chunk. The slice is only valid until the next
	// call to Next (it aliases an internal buffer). At the end of input it
	// returns (nil, io.EOF); it never returns a non-empty chunk together
	// with an error. A read error from the underlying reader is returned
	// as-is, after any chunks that were complete before it.
	Next() ([]byte, error)
}

// window is the read buffer shared by both splitters: buf[start:end] holds
// data read but not yet returned.
type window struct {
	r          io.Reader
	buf        []byte
	start, end int
	err        error // sticky: io.EOF or the first read error
}

// fill moves pending data to the front and reads until buf is full or the
// reader fails, so reads are large and the cut points never depend on how
// the reader splits its output.
func (w *window) fill() {
	if w.start > 0 {
		w.end = copy(w.buf, w.buf[w.start:w.end])
		w.start = 0
	}
	for empty := 0; w.end < len(w.buf) && w.err == nil; {
		n, err := w.r.Read(w.buf[w.end:])
		if n < 0 || n > len(w.buf)-w.end {
			panic("chunker: reader returned invalid count")
		}
		w.end += n
		w.err = err
		// Like bufio, give up on readers that keep returning nothing.
		if n > 0 {
			empty = 0
			continue
		}
		if empty++; empty >= 100 && w.err == nil {
			w.err = io.ErrNoProgress
		}
	}
}

// take returns the next n pending bytes.
func (w *window) take(n int) []byte {
	b := w.buf[w.start : w.start+n : w.start+n]
	w.start += n
	return b
}

// errSplitter reports invalid arguments from Next, so New needs no error.
type errSplitter struct{ err error }

func (e errSplitter) Next() ([]byte, error) { return nil, e.err }
