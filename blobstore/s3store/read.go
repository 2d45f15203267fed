package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-dev/cairn/blobstore"
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
		if n, hit, eof := s.cache.get(name, p, off); hit {
			return readResult(name, off, n, len(p), eof)
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
				return blobstore.ErrNotFound
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
// for each recently read pack where its last read ended.
type readCache struct {
	mu       sync.Mutex
	spans    []*span
	bytes    int
	maxBytes int
	maxAhead int
	tick     uint64
	last     map[string]lastRead
}

type span struct {
	pack string
	off  int64
	data []byte
	eof  bool // data ends where the pack does
	used uint64
}

type lastRead struct {
	end   int64
	ahead int
}

// nearby is how far after the previous read's end a read still counts as
// its neighbour (a few small blobs of other files in between).
const nearby = 256 << 10

func newReadCache(maxBytes, maxAhead int) *readCache {
	return &readCache{maxBytes: maxBytes, maxAhead: maxAhead, last: map[string]lastRead{}}
}

// get copies [off, off+len(p)) of pack from a span that covers its start,
// if there is one: n bytes, and eof when the span ends at the pack's end.
func (c *readCache) get(pack string, p []byte, off int64) (n int, hit, eof bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sp := range c.spans {
		if sp.pack != pack || off < sp.off || off > sp.off+int64(len(sp.data)) {
			continue
		}
		n = copy(p, sp.data[off-sp.off:])
		if n < len(p) && !sp.eof {
			continue // runs past the span: not a hit
		}
		c.tick++
		sp.used = c.tick
		c.note(pack, off+int64(len(p)), c.last[pack].ahead)
		return n, true, sp.eof
	}
	return 0, false, false
}

// ahead says how much more than n to fetch for a read of pack at off: 0
// for a read with no neighbour before it, then 256 KiB, doubling with
// each neighbouring read up to maxAhead. Reads as large as that go alone.
func (c *readCache) ahead(pack string, off int64, n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.last[pack]
	a := 0
	if ok && off >= l.end && off-l.end <= nearby && n < c.maxAhead {
		a = min(max(2*l.ahead, nearby), c.maxAhead)
	}
	c.note(pack, off+int64(n), a)
	return a
}

func (c *readCache) note(pack string, end int64, ahead int) {
	if len(c.last) > 1024 {
		clear(c.last)
	}
	c.last[pack] = lastRead{end: end, ahead: ahead}
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
