// Package memstore is a blobstore.Store that keeps packs in memory: for
// tests and for short-lived repositories that need no disk. It honours the
// whole Store contract (nothing visible before Commit, content-addressed
// re-commits, io.EOF and io.ErrUnexpectedEOF past the end) and passes the
// storetest conformance suite, so code tested against it behaves the same
// on Local and, later, on S3.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
)

var _ blobstore.Store = (*Store)(nil)

// ErrClosed reports a call on a Store after Close.
var ErrClosed = errors.New("memstore: store is closed")

// Store holds committed packs in a map. It is safe for concurrent use.
// Committed bytes are never modified, so readers share them without
// copying more than ReadAt's destination.
type Store struct {
	mu      sync.RWMutex
	packs   map[string][]byte
	objects map[string][]byte // Objects, created on first put
	dates   map[string]time.Time
	now     func() time.Time // the store's clock (SetClock)
	closed  bool
}

// SetClock sets the store's own clock, which dates objects as they are
// put (ListObjectsDated); nil is time.Now. Tests move it to age gc plans
// and leases in store time.
func (s *Store) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// New returns an empty store.
func New() *Store {
	return &Store{packs: make(map[string][]byte)}
}

func checkName(verb, name string) error {
	if !blobstore.ValidName(name) {
		return fmt.Errorf("%s pack %q: %w", verb, name, blobstore.ErrInvalidName)
	}
	return nil
}

// Create starts an upload buffered in memory.
func (s *Store) Create(ctx context.Context) (blobstore.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("create upload: %w", ErrClosed)
	}
	return &upload{s: s}, nil
}

// ReadAt copies the pack's bytes at off into p.
func (s *Store) ReadAt(ctx context.Context, name string, p []byte, off int64) error {
	if err := checkName("read", name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("read pack %s: %w", name, err)
	}
	if off < 0 {
		return fmt.Errorf("read pack %s: negative offset %d", name, off)
	}
	s.mu.RLock()
	data, ok := s.packs[name]
	closed := s.closed
	s.mu.RUnlock()
	switch {
	case closed:
		return fmt.Errorf("read pack %s: %w", name, ErrClosed)
	case !ok:
		return fmt.Errorf("read pack %s: %w", name, blobstore.ErrNotFound)
	case len(p) == 0 && off <= int64(len(data)):
		return nil
	case off >= int64(len(data)):
		return fmt.Errorf("read pack %s at %d: %w", name, off, io.EOF)
	}
	if n := copy(p, data[off:]); n < len(p) {
		return fmt.Errorf("read pack %s at %d: %w", name, off, io.ErrUnexpectedEOF)
	}
	return nil
}

// Stat returns a pack's size.
func (s *Store) Stat(ctx context.Context, name string) (int64, error) {
	if err := checkName("stat", name); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("stat pack %s: %w", name, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, fmt.Errorf("stat pack %s: %w", name, ErrClosed)
	}
	data, ok := s.packs[name]
	if !ok {
		return 0, fmt.Errorf("stat pack %s: %w", name, blobstore.ErrNotFound)
	}
	return int64(len(data)), nil
}

// List reports the packs committed when it starts. fn runs without the
// lock held, so it may call the store (Delete, as gc does).
func (s *Store) List(ctx context.Context, fn func(name string, size int64) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	type pack struct {
		name string
		size int64
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("list packs: %w", ErrClosed)
	}
	all := make([]pack, 0, len(s.packs))
	for name, data := range s.packs {
		all = append(all, pack{name, int64(len(data))})
	}
	s.mu.RUnlock()
	for _, p := range all {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list packs: %w", err)
		}
		if err := fn(p.name, p.size); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes a pack.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := checkName("delete", name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete pack %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("delete pack %s: %w", name, ErrClosed)
	}
	if _, ok := s.packs[name]; !ok {
		return fmt.Errorf("delete pack %s: %w", name, blobstore.ErrNotFound)
	}
	delete(s.packs, name)
	return nil
}

// Close drops every pack; later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.packs = nil
	return nil
}

// Len returns the number of committed packs and their total size, which
// tests use to see what a run left behind.
func (s *Store) Len() (packs int, bytes int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, data := range s.packs {
		packs++
		bytes += int64(len(data))
	}
	return packs, bytes
}

// upload buffers a pack until Commit.
type upload struct {
	s         *Store
	buf       []byte
	committed bool
	aborted   bool
}

func (u *upload) Write(p []byte) (int, error) {
	if u.committed || u.aborted {
		return 0, errors.New("write upload: upload already finished")
	}
	u.buf = append(u.buf, p...)
	return len(p), nil
}

// Commit publishes the buffer under name. A pack of the same name and
// size is kept as it is: names are content hashes.
func (u *upload) Commit(ctx context.Context, name string) error {
	if err := checkName("commit", name); err != nil {
		return err
	}
	if u.committed || u.aborted {
		return fmt.Errorf("commit pack %s: upload already finished", name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	if u.s.closed {
		return fmt.Errorf("commit pack %s: %w", name, ErrClosed)
	}
	if old, ok := u.s.packs[name]; ok {
		if len(old) != len(u.buf) {
			return fmt.Errorf("commit pack %s: exists with %d bytes, upload has %d", name, len(old), len(u.buf))
		}
	} else {
		if u.buf == nil {
			u.buf = []byte{}
		}
		u.s.packs[name] = u.buf
	}
	u.buf = nil
	u.committed = true
	return nil
}

// Abort drops the buffer; after Commit it does nothing.
func (u *upload) Abort() error {
	if u.committed || u.aborted {
		return nil
	}
	u.aborted = true
	u.buf = nil
	return nil
}

var _ blobstore.Objects = (*Store)(nil)

// PutObject stores an object unless its key exists.
func (s *Store) PutObject(ctx context.Context, key string, data []byte) error {
	if err := blobstore.CheckKey("put", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.objects == nil {
		s.objects = make(map[string][]byte)
	}
	if _, ok := s.objects[key]; ok {
		return fmt.Errorf("put object %s: %w", key, blobstore.ErrExists)
	}
	s.objects[key] = append([]byte(nil), data...)
	if s.dates == nil {
		s.dates = make(map[string]time.Time)
	}
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	s.dates[key] = now()
	return nil
}

// GetObject returns a copy of an object's bytes.
func (s *Store) GetObject(ctx context.Context, key string) ([]byte, error) {
	if err := blobstore.CheckKey("get", key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	b, ok := s.objects[key]
	if !ok {
		return nil, fmt.Errorf("get object %s: %w", key, blobstore.ErrNotFound)
	}
	return append([]byte(nil), b...), nil
}

// ListObjects calls fn for the keys under prefix in ascending order, on a
// copy of the key set taken at the call.
func (s *Store) ListObjects(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return s.ListObjectsDated(ctx, prefix, func(key string, size int64, _ time.Time) error { return fn(key, size) })
}

// ListObjectsDated is ListObjects with each object's time of put in the
// store's clock.
func (s *Store) ListObjectsDated(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	var keys []string
	sizes := map[string]int64{}
	dates := map[string]time.Time{}
	for k, b := range s.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
			sizes[k] = int64(len(b))
			dates[k] = s.dates[k]
		}
	}
	s.mu.RUnlock()
	sort.Strings(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, sizes[k], dates[k]); err != nil {
			return err
		}
	}
	return nil
}

// DeleteObject removes an object.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	if err := blobstore.CheckKey("delete", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.objects[key]; !ok {
		return fmt.Errorf("delete object %s: %w", key, blobstore.ErrNotFound)
	}
	delete(s.objects, key)
	delete(s.dates, key)
	return nil
}
