package snapshot

import (
	"context"
	"io"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn/blobstore"
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
		if err := s.storeChunk(ctx, c, chunk, bufs); err != nil {
			return err
		}
	}
	copy(c.hash[:], whole.Sum(nil))
	return nil
}

// storeBytes is store for a file read whole into data: the chunks are cut
// in place (chunker.Bytes, the same cuts as a stream of data), with no
// copy into a window and no splitter allocated per file, and the file's
// hash is one call over data.
func (s *run) storeBytes(ctx context.Context, c *captured, data []byte, bufs *buffers) error {
	bufs.waitPreload()
	if err := ctx.Err(); err != nil {
		return err
	}
	c.chunks = c.chunks[:0]
	c.size = 0
	for sp := chunker.NewBytes(data, s.params, s.gear); ; {
		chunk, ok := sp.Next()
		if !ok {
			break
		}
		if err := s.storeChunk(ctx, c, chunk, bufs); err != nil {
			return err
		}
	}
	c.hash = blobstore.ID(blake3.Sum256(data))
	return nil
}

// storeChunk names one chunk of c, refers c to it, and gathers it into the
// worker's frame when it is new.
func (s *run) storeChunk(ctx context.Context, c *captured, chunk []byte, bufs *buffers) error {
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
	return nil
}
