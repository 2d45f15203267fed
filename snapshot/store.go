package snapshot

import (
	"context"
	"io"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn/chunker"
)

// flushFrame hands the worker's gathered new chunks to the encoders.
// Compression runs in the encoder pool, so one large file keeps every core
// busy, not just the worker that reads it.
func (s *run) flushFrame(ctx context.Context, bufs *buffers) error {
	if len(bufs.frame.parts) == 0 {
		return nil
	}
	select {
	case s.encode <- bufs.frame:
		bufs.frame = framePool.Get().(*frame)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// store chunks a stream, hashes it, and hands new chunks to the packer.
func (s *run) store(ctx context.Context, c *captured, sp chunker.Splitter, bufs *buffers) error {
	bufs.waitPreload()
	whole := blake3.New()
	c.chunks = c.chunks[:0]
	c.size = 0
	for {
		// Chunks that are all known never wait on anything that would
		// notice an interrupt: look at ctx here.
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk, err := sp.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		whole.Write(chunk)
		c.size += int64(len(chunk))
		s.stats.bytesRead.Add(int64(len(chunk)))
		id := s.Codec.Sum(chunk)
		ref, isNew, err := s.index.ref(ctx, id)
		if err != nil {
			return err
		}
		c.chunks = append(c.chunks, ref)
		if isNew {
			if len(bufs.frame.data)+len(chunk) > frameTarget {
				if err := s.flushFrame(ctx, bufs); err != nil {
					return err
				}
			}
			bufs.frame.add(int(-ref-1), id, chunk)
		}
	}
	copy(c.hash[:], whole.Sum(nil))
	return nil
}
