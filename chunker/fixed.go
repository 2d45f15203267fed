package chunker

import (
	"fmt"
	"io"
)

// fixedBuffer is the buffer NewFixed allocates when given none: many
// blocks, so small page sizes still get large reads.
const fixedBuffer = 256 << 10

type fixed struct {
	window
	size int
}

// NewFixed returns a splitter that cuts r into blocks of exactly size bytes
// (the last may be shorter). For SQLite files, whose pages never shift.
// buf may be nil; if cap(buf) >= size it is reused, rounded down to a
// multiple of size. If size is not positive, Next returns an error.
func NewFixed(r io.Reader, size int, buf []byte) Splitter {
	if size <= 0 || size > maxLimit {
		return errSplitter{fmt.Errorf("chunker: fixed size %d is out of range", size)}
	}
	if cap(buf) >= size {
		buf = buf[:cap(buf)/size*size]
	} else {
		buf = make([]byte, max(1, fixedBuffer/size)*size)
	}
	return &fixed{window: window{r: r, buf: buf}, size: size}
}

func (f *fixed) Next() ([]byte, error) {
	if f.end-f.start < f.size && f.err == nil {
		f.fill()
	}
	n := min(f.end-f.start, f.size)
	if n == 0 || n < f.size && f.err != io.EOF {
		return nil, f.err
	}
	return f.take(n), nil
}
