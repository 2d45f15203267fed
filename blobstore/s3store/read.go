package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/minio/minio-go/v7"
)

// ReadAt fills p from pack name at off with a ranged GET, or from bytes a
// neighbouring read fetched ahead (see the package comment).
func (s *Store) ReadAt(ctx context.Context, name string, p []byte, off int64) error {
	if err := checkName("read", name); err != nil {
		return err
	}
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("read pack %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("read pack %s: %w", name, err)
	}
	if off < 0 {
		return fmt.Errorf("read pack %s: negative offset %d", name, off)
	}
	if len(p) == 0 {
		// No range can ask for nothing; the pack must still exist.
		size, err := s.Stat(ctx, name)
		if err != nil {
			return err
		}
		if off > size {
			return fmt.Errorf("read pack %s at %d: %w", name, off, io.EOF)
		}
		return nil
	}
	if s.cache != nil {
		n, hit, eof := s.cache.get(name, p, off)
		if hit {
			return readResult(name, off, n, len(p), eof)
		}
		if n > 0 {
			// The start came ahead with an earlier read; fetch the rest.
			err := s.ReadAt(ctx, name, p[n:], off+int64(n))
			if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("read pack %s at %d: %w", name, off, io.ErrUnexpectedEOF)
			}
			return err
		}
	}
	ahead := 0
	if s.cache != nil {
		ahead = s.cache.ahead(name, off, len(p))
	}
	buf := p
	if ahead > 0 {
		buf = make([]byte, len(p)+ahead)
	}
	n, err := s.getRange(ctx, s.packKey(name), buf, off)
	if err != nil {
		return fmt.Errorf("read pack %s at %d: %w", name, off, err)
	}
	eof := n < len(buf)
	if ahead > 0 {
		s.cache.put(name, off, buf[:n], eof)
		copy(p, buf[:n])
	}
	return readResult(name, off, min(n, len(p)), len(p), eof)
}

// readResult turns a count of bytes read into the Store contract's error.
func readResult(name string, off int64, n, want int, eof bool) error {
	switch {
	case n == want:
		return nil
	case n == 0 && eof:
		return fmt.Errorf("read pack %s at %d: %w", name, off, io.EOF)
	default:
		return fmt.Errorf("read pack %s at %d: %w", name, off, io.ErrUnexpectedEOF)
	}
}

// getRange GETs len(p) bytes of key at off into p and returns how many
// the object had (fewer at its end; 0 past it).
func (s *Store) getRange(ctx context.Context, key string, p []byte, off int64) (int, error) {
	var n int
	err := s.do(ctx, "get", func(ctx context.Context, _ bool) error {
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(off, off+int64(len(p))-1); err != nil {
			return err
		}
		body, info, _, err := s.core.GetObject(ctx, s.cfg.Bucket, key, opts)
		if err != nil {
			switch {
			case isNotFound(err):
				return s.notFound(ctx, err)
			case status(err) == http.StatusRequestedRangeNotSatisfiable:
				n = 0
				return nil
			}
			return err
		}
		defer body.Close()
		n, err = io.ReadFull(body, p)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			// A short body is the end of the object, unless the
			// connection broke before the length the server announced.
			if int64(n) < info.Size {
				return fmt.Errorf("response cut short at %d of %d bytes: %w", n, info.Size, io.ErrUnexpectedEOF)
			}
			return nil
		}
		return err
	})
	return n, err
}

// readCache holds spans of packs fetched ahead of neighbouring reads, and
// for each recently read pack where its last few reads ended: several
// readers of one pack (restore workers writing different files) each
// keep their own run of neighbouring reads.
type readCache struct {
	mu       sync.Mutex
	spans    []*span
	bytes    int
	maxBytes int
	maxAhead int
	tick     uint64
	last     map[string]*[streams]lastRead
}

type span struct {
	pack string
	off  int64
	data []byte
	eof  bool // data ends where the pack does
	used uint64
}

// lastRead is where one run of reads of a pack has got to.
type lastRead struct {
	start int64
	end   int64
	ahead int
	used  uint64
}

// streams is how many runs of reads of one pack are followed.
const streams = 4

// nearby is how far after the previous read's end a read still counts as
// its neighbour (a few small blobs of other files in between).
const nearby = 256 << 10

func newReadCache(maxBytes, maxAhead int) *readCache {
	return &readCache{maxBytes: maxBytes, maxAhead: maxAhead, last: map[string]*[streams]lastRead{}}
}

// get copies [off, off+len(p)) of pack from a span that covers it, if
// there is one (hit: n bytes, and eof when the span ends at the pack's
// end). Otherwise it copies the longest start of the range a span holds
// and returns its length, for the caller to fetch the rest.
func (c *readCache) get(pack string, p []byte, off int64) (n int, hit, eof bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *span
	bestLen := int64(0)
	for _, sp := range c.spans {
		if sp.pack != pack || off < sp.off || off >= sp.off+int64(len(sp.data)) {
			continue
		}
		if have := sp.off + int64(len(sp.data)) - off; have >= int64(len(p)) || sp.eof {
			n = copy(p, sp.data[off-sp.off:])
			c.tick++
			sp.used = c.tick
			if st := c.stream(pack, off); st != nil {
				st.end, st.used = max(st.end, off+int64(len(p))), c.tick
			}
			return n, true, sp.eof
		} else if have > bestLen {
			best, bestLen = sp, have
		}
	}
	if best == nil {
		return 0, false, false
	}
	c.tick++
	best.used = c.tick
	return copy(p, best.data[off-best.off:]), false, false
}

// stream returns the run of reads of pack that a read at off continues,
// or nil.
func (c *readCache) stream(pack string, off int64) *lastRead {
	ss := c.last[pack]
	if ss == nil {
		return nil
	}
	for i := range ss {
		// Readers working in parallel along one run read a little out
		// of order: anything from its start to just past its end
		// continues it.
		if st := &ss[i]; st.used > 0 && off >= st.start && off <= st.end+nearby {
			return st
		}
	}
	return nil
}

// ahead says how much more than n to fetch for a read of pack at off: 0
// for a read that continues no run, then 256 KiB, doubling with each
// neighbouring read up to maxAhead. Reads as large as that go alone.
func (c *readCache) ahead(pack string, off int64, n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	st := c.stream(pack, off)
	a := 0
	if st != nil && n < c.maxAhead {
		a = min(max(2*st.ahead, nearby), c.maxAhead)
	}
	if st == nil {
		// Start a run in the slot used longest ago.
		if len(c.last) > 1024 {
			clear(c.last)
		}
		ss := c.last[pack]
		if ss == nil {
			ss = new([streams]lastRead)
			c.last[pack] = ss
		}
		st = &ss[0]
		for i := range ss {
			if ss[i].used < st.used {
				st = &ss[i]
			}
		}
	}
	if st.used == 0 || !(off >= st.start && off <= st.end+nearby) {
		*st = lastRead{start: off}
	}
	st.end, st.ahead, st.used = max(st.end, off+int64(n+a)), a, c.tick
	return a
}

// put keeps a fetched span, dropping the least recently used beyond
// maxBytes.
func (c *readCache) put(pack string, off int64, data []byte, eof bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	c.spans = append(c.spans, &span{pack: pack, off: off, data: data, eof: eof, used: c.tick})
	c.bytes += len(data)
	for c.bytes > c.maxBytes && len(c.spans) > 1 {
		oldest := 0
		for i, sp := range c.spans {
			if sp.used < c.spans[oldest].used {
				oldest = i
			}
		}
		c.bytes -= len(c.spans[oldest].data)
		c.spans = append(c.spans[:oldest], c.spans[oldest+1:]...)
	}
}

// drop forgets a deleted pack.
func (c *readCache) drop(pack string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.spans[:0]
	for _, sp := range c.spans {
		if sp.pack == pack {
			c.bytes -= len(sp.data)
			continue
		}
		kept = append(kept, sp)
	}
	clear(c.spans[len(kept):])
	c.spans = kept
	delete(c.last, pack)
}
