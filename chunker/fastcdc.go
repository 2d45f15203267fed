package chunker

import "io"

type cdc struct {
	window
	gear          *[256]uint64
	min, avg, max int
	maskS, maskL  uint64
}

// New returns a content-defined splitter over r with the public Gear table
// (format 1). buf may be nil; if non-nil and cap(buf) >= BufferSize(p) it
// is reused (lets callers pool buffers). If p is invalid, Next returns the
// Validate error.
func New(r io.Reader, p Params, buf []byte) Splitter {
	return NewWithTable(r, p, nil, buf)
}

// NewWithTable is New with the Gear table t (KeyedTable); nil is the
// public table.
func NewWithTable(r io.Reader, p Params, t *Table, buf []byte) Splitter {
	if t == nil {
		t = public
	}
	if err := p.Validate(); err != nil {
		return errSplitter{err}
	}
	n := BufferSize(p)
	if cap(buf) >= n {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	maskS, maskL := p.masks()
	return &cdc{
		window: window{r: r, buf: buf},
		gear:   &t.t,
		min:    p.Min, avg: p.Avg, max: p.Max,
		maskS: maskS, maskL: maskL,
	}
}

func (c *cdc) Next() ([]byte, error) {
	if c.end-c.start < c.max && c.err == nil {
		c.fill()
	}
	n := c.end - c.start
	if n == 0 {
		return nil, c.err
	}
	cut := c.cut(c.buf[c.start:c.end])
	// Short of Max without a cut point, the remainder is a chunk only at
	// EOF; after a read error more data might have moved the cut.
	if cut == n && n < c.max && c.err != io.EOF {
		return nil, c.err
	}
	return c.take(cut), nil
}

// cut returns the length of the chunk at the start of data, or len(data)
// when there is no cut point within it (and it is shorter than max).
//
// The first min bytes are not hashed (cut-point skipping). The Gear hash
// then rolls as h = h<<1 + gear[b]; a chunk ends after the byte that makes
// the masked bits zero, with the stricter maskS before avg and the looser
// maskL after it (normalized chunking level 2), and at max regardless.
func (c *cdc) cut(data []byte) int {
	n := len(data)
	if n <= c.min {
		return n
	}
	n = min(n, c.max)
	mid := min(n, c.avg)
	maskS, maskL, gear := c.maskS, c.maskL, c.gear
	var h uint64
	for i, b := range data[c.min:mid] {
		h = h<<1 + gear[b]
		if h&maskS == 0 {
			return c.min + i + 1
		}
	}
	for i, b := range data[mid:n] {
		h = h<<1 + gear[b]
		if h&maskL == 0 {
			return mid + i + 1
		}
	}
	return n
}

// Bytes is a content-defined splitter over data already in memory: it
// cuts exactly where New would over the same bytes, and the chunks are
// subslices of data, not copies. For a small file read whole, New copied
// every byte into its window and allocated a splitter per file (the
// first snapshot of 100k 100-byte files: 14 MB of splitters).
type Bytes struct {
	data          []byte
	gear          *[256]uint64
	min, avg, max int
	maskS, maskL  uint64
}

// NewBytes returns a Bytes over data with table t (nil: the public table)
// and parameters p, which must be valid (Params.Validate).
func NewBytes(data []byte, p Params, t *Table) Bytes {
	if t == nil {
		t = public
	}
	maskS, maskL := p.masks()
	return Bytes{data: data, gear: &t.t, min: p.Min, avg: p.Avg, max: p.Max, maskS: maskS, maskL: maskL}
}

// Next returns the next chunk, or false when data is used up.
func (b *Bytes) Next() ([]byte, bool) {
	if len(b.data) == 0 {
		return nil, false
	}
	c := cdc{gear: b.gear, min: b.min, avg: b.avg, max: b.max, maskS: b.maskS, maskL: b.maskL}
	n := c.cut(b.data)
	chunk := b.data[:n:n]
	b.data = b.data[n:]
	return chunk, true
}
