package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

var (
	// ErrNotFound reports a pack that does not exist.
	ErrNotFound = errors.New("blobstore: not found")
	// ErrCorrupt reports stored bytes that fail validation.
	ErrCorrupt = errors.New("blobstore: corrupt data")
	// ErrFormat reports a pack of the other format than the repository's
	// (a format-1 pack in a format-2 repository, or the reverse). Such
	// errors wrap ErrCorrupt too.
	ErrFormat = errors.New("blobstore: pack format differs from the repository's")
	// ErrInvalidName reports a pack name that fails ValidName.
	ErrInvalidName = errors.New("blobstore: invalid pack name")
)

// ChunkError is a chunk that could not be read back: the pack is missing,
// or its bytes fail verification. Callers that report many failed reads
// (a restore of a tree) collect the packs with errors.As, to name the
// damage once instead of once per file.
type ChunkError struct {
	Chunk ID
	Pack  string
	Err   error
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("read chunk %s in pack %s: %v", e.Chunk, e.Pack, e.Err)
}

func (e *ChunkError) Unwrap() error { return e.Err }

// Store holds immutable pack files. The interface deliberately says nothing
// about local files so that an object-store backend can implement it too.
// Implementations are safe for concurrent use.
type Store interface {
	// Create starts writing a new pack. Nothing is visible under any name
	// until Upload.Commit.
	Create(ctx context.Context) (Upload, error)
	// ReadAt fills p from the pack's bytes at off. A missing pack gives an
	// error wrapping ErrNotFound. Reading past the end gives an error
	// wrapping io.ErrUnexpectedEOF, or io.EOF if off >= size.
	ReadAt(ctx context.Context, name string, p []byte, off int64) error
	// Stat returns a pack's size (ErrNotFound if missing).
	Stat(ctx context.Context, name string) (int64, error)
	// List calls fn for every committed pack, in no particular order. An
	// error from fn stops the walk and is returned as is.
	List(ctx context.Context, fn func(name string, size int64) error) error
	// Delete removes a pack durably. Deleting a missing pack returns an
	// error wrapping ErrNotFound.
	Delete(ctx context.Context, name string) error
	Close() error
}

// Upload is a pack being written. It is not safe for concurrent use.
type Upload interface {
	io.Writer
	// Commit makes everything written durable and visible under name, which
	// must satisfy ValidName. After Commit returns nil the pack survives
	// kill -9 and power loss. Committing a name that already exists with
	// the same size succeeds, because packs are content-addressed.
	Commit(ctx context.Context, name string) error
	// Abort discards the upload. It is safe to call after Commit, where it
	// does nothing, so callers can always defer it.
	Abort() error
}
