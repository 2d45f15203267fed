// Package faultstore wraps a blobstore.Store (and its blobstore.Objects,
// where it has them) and injects the failures a remote store has: errors on chosen calls or at random (from a seeded
// generator, so a failing run can be replayed), added latency, requests
// that succeed but whose response is lost, short listings, and reads that
// return damaged bytes. With no faults set it is a transparent wrapper and
// passes the storetest conformance suite.
//
// Tests use it to show that faults surface as errors, never as corruption:
// a snapshot through a faulty store either fails cleanly or commits one
// that restores byte for byte.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
)

var (
	_ blobstore.Store   = (*Store)(nil)
	_ blobstore.Objects = (*Store)(nil)
)

// ErrNoObjects reports an Objects call on a Store whose wrapped store
// has no objects.
var ErrNoObjects = errors.New("faultstore: the wrapped store holds no objects")

// ErrInjected is the error an injected fault returns unless its Fault
// names another.
var ErrInjected = errors.New("faultstore: injected fault")

// Op names one kind of call.
type Op int

// The calls a Fault can apply to. Write and Commit are calls on an
// Upload; PutObject to DeleteObject are the Objects methods; the others
// are Store methods.
const (
	Create Op = iota
	Write
	Commit
	ReadAt
	Stat
	List
	Delete
	PutObject
	GetObject
	ListObjects
	DeleteObject
	numOps
)

var opNames = [numOps]string{"create", "write", "commit", "read", "stat", "list", "delete",
	"put object", "get object", "list objects", "delete object"}

func (o Op) String() string {
	if o < 0 || o >= numOps {
		return fmt.Sprintf("Op(%d)", int(o))
	}
	return opNames[o]
}

// Fault says what happens to the calls of one Op. A call is faulty when
// it is the Nth call since the Fault was set (counting from 1), or, with
// Probability, at random. Delay applies to every call.
type Fault struct {
	Nth         int
	Probability float64
	// Err is returned by a faulty call; nil means ErrInjected.
	Err error
	// Lost carries the call out on the wrapped store and then returns
	// the error anyway: a request that succeeded but whose response was
	// lost (a Commit that made the pack durable, a Delete that deleted).
	Lost bool
	// Short makes a faulty List or ListObjects stop part way without an
	// error: a listing that dropped a page. Without Short a faulty listing
	// reports part of what it holds and then returns the error.
	Short bool
	// Damage makes a faulty ReadAt or GetObject succeed with one byte of
	// what it read flipped: a bad disk or a broken proxy.
	Damage bool
	// Delay is added before every call of the Op.
	Delay time.Duration
}

type opState struct {
	fault    Fault
	set      bool
	calls    int // since the fault was set
	total    int
	injected int
}

// Store is a blobstore.Store that injects faults into calls to another.
// It is safe for concurrent use.
type Store struct {
	inner   blobstore.Store
	objects blobstore.Objects // inner's, or nil

	mu  sync.Mutex
	rng *rand.Rand
	ops [numOps]opState
}

// New wraps inner, and its objects if it implements blobstore.Objects.
// seed drives every random decision.
func New(inner blobstore.Store, seed uint64) *Store {
	objs, _ := inner.(blobstore.Objects)
	return &Store{inner: inner, objects: objs, rng: rand.New(rand.NewPCG(seed, seed^0x5deece66d))}
}

// Set replaces the fault of op and restarts its call count.
func (s *Store) Set(op Op, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.ops[op]
	st.fault, st.set, st.calls = f, true, 0
}

// Clear removes every fault; counts of calls and injected faults stay.
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.ops {
		s.ops[i].fault, s.ops[i].set, s.ops[i].calls = Fault{}, false, 0
	}
}

// Calls returns how many calls of op the store has seen.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops[op].total
}

// Injected returns how many calls of op were made faulty.
func (s *Store) Injected(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops[op].injected
}

// decision is what happens to one call.
type decision struct {
	faulty bool
	fault  Fault
	pick   uint64 // a random number for the fault's own choices
}

// decide counts a call of op, sleeps its delay and decides its fate.
func (s *Store) decide(ctx context.Context, op Op) (decision, error) {
	s.mu.Lock()
	st := &s.ops[op]
	st.total++
	st.calls++
	d := decision{fault: st.fault, pick: s.rng.Uint64()}
	if st.set {
		d.faulty = st.fault.Nth == st.calls ||
			(st.fault.Probability > 0 && s.rng.Float64() < st.fault.Probability)
	}
	if d.faulty {
		st.injected++
	}
	s.mu.Unlock()
	if d.fault.Delay > 0 {
		t := time.NewTimer(d.fault.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return d, ctx.Err()
		}
	}
	return d, nil
}

func (d decision) err() error {
	if d.fault.Err != nil {
		return d.fault.Err
	}
	return ErrInjected
}

// Create starts an upload whose Write and Commit calls can fail too.
func (s *Store) Create(ctx context.Context) (blobstore.Upload, error) {
	d, err := s.decide(ctx, Create)
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	if d.faulty && !d.fault.Lost {
		return nil, fmt.Errorf("create upload: %w", d.err())
	}
	up, err := s.inner.Create(ctx)
	if err != nil {
		return nil, err
	}
	if d.faulty {
		up.Abort() // nobody holds it: the response was lost
		return nil, fmt.Errorf("create upload: %w", d.err())
	}
	return &upload{s: s, inner: up}, nil
}

// ReadAt reads from the wrapped store; a faulty call fails, or with
// Damage returns flipped bytes.
func (s *Store) ReadAt(ctx context.Context, name string, p []byte, off int64) error {
	d, err := s.decide(ctx, ReadAt)
	if err != nil {
		return fmt.Errorf("read pack %s: %w", name, err)
	}
	if d.faulty && !d.fault.Lost && !d.fault.Damage {
		return fmt.Errorf("read pack %s at %d: %w", name, off, d.err())
	}
	if err := s.inner.ReadAt(ctx, name, p, off); err != nil {
		return err
	}
	switch {
	case d.faulty && d.fault.Damage:
		if len(p) > 0 {
			p[d.pick%uint64(len(p))] ^= 1 << (d.pick >> 61)
		}
	case d.faulty:
		return fmt.Errorf("read pack %s at %d: %w", name, off, d.err())
	}
	return nil
}

// Stat asks the wrapped store.
func (s *Store) Stat(ctx context.Context, name string) (int64, error) {
	d, err := s.decide(ctx, Stat)
	if err != nil {
		return 0, fmt.Errorf("stat pack %s: %w", name, err)
	}
	if d.faulty && !d.fault.Lost {
		return 0, fmt.Errorf("stat pack %s: %w", name, d.err())
	}
	size, err := s.inner.Stat(ctx, name)
	if err == nil && d.faulty {
		return 0, fmt.Errorf("stat pack %s: %w", name, d.err())
	}
	return size, err
}

// List lists the wrapped store. A faulty call stops after a random part
// of the packs, with an error or, with Short, silently.
func (s *Store) List(ctx context.Context, fn func(name string, size int64) error) error {
	d, err := s.decide(ctx, List)
	if err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	if !d.faulty {
		return s.inner.List(ctx, fn)
	}
	errCut := errors.New("cut")
	keep := int(d.pick % 4) // how many packs the cut listing still reports
	n := 0
	err = s.inner.List(ctx, func(name string, size int64) error {
		if n >= keep {
			return errCut
		}
		n++
		return fn(name, size)
	})
	switch {
	case err != nil && !errors.Is(err, errCut):
		return err
	case d.fault.Short:
		return nil
	}
	return fmt.Errorf("list packs: %w", d.err())
}

// Delete deletes from the wrapped store.
func (s *Store) Delete(ctx context.Context, name string) error {
	d, err := s.decide(ctx, Delete)
	if err != nil {
		return fmt.Errorf("delete pack %s: %w", name, err)
	}
	if d.faulty && !d.fault.Lost {
		return fmt.Errorf("delete pack %s: %w", name, d.err())
	}
	if err := s.inner.Delete(ctx, name); err != nil {
		return err
	}
	if d.faulty {
		return fmt.Errorf("delete pack %s: %w", name, d.err())
	}
	return nil
}

// Close closes the wrapped store; it is never faulty.
func (s *Store) Close() error { return s.inner.Close() }

// upload is an Upload whose Write and Commit can be faulty.
type upload struct {
	s     *Store
	inner blobstore.Upload
}

func (u *upload) Write(p []byte) (int, error) {
	d, err := u.s.decide(context.Background(), Write)
	if err != nil {
		return 0, err
	}
	if d.faulty && !d.fault.Lost {
		// Part of p may have gone out before the connection broke.
		n, _ := u.inner.Write(p[:int(d.pick%uint64(len(p)+1))])
		return n, fmt.Errorf("write upload: %w", d.err())
	}
	n, err := u.inner.Write(p)
	if err == nil && d.faulty {
		return n, fmt.Errorf("write upload: %w", d.err())
	}
	return n, err
}

func (u *upload) Commit(ctx context.Context, name string) error {
	d, err := u.s.decide(ctx, Commit)
	if err != nil {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	if d.faulty && !d.fault.Lost {
		return fmt.Errorf("commit pack %s: %w", name, d.err())
	}
	if err := u.inner.Commit(ctx, name); err != nil {
		return err
	}
	if d.faulty {
		return fmt.Errorf("commit pack %s: %w", name, d.err())
	}
	return nil
}

func (u *upload) Abort() error { return u.inner.Abort() }

// PutObject puts into the wrapped objects; with Lost the object is stored
// and the error returned anyway.
func (s *Store) PutObject(ctx context.Context, key string, data []byte) error {
	if s.objects == nil {
		return fmt.Errorf("put object %s: %w", key, ErrNoObjects)
	}
	d, err := s.decide(ctx, PutObject)
	if err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	if d.faulty && !d.fault.Lost {
		return fmt.Errorf("put object %s: %w", key, d.err())
	}
	if err := s.objects.PutObject(ctx, key, data); err != nil {
		return err
	}
	if d.faulty {
		return fmt.Errorf("put object %s: %w", key, d.err())
	}
	return nil
}

// GetObject reads from the wrapped objects; a faulty call fails, or with
// Damage returns a flipped byte.
func (s *Store) GetObject(ctx context.Context, key string) ([]byte, error) {
	if s.objects == nil {
		return nil, fmt.Errorf("get object %s: %w", key, ErrNoObjects)
	}
	d, err := s.decide(ctx, GetObject)
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	if d.faulty && !d.fault.Lost && !d.fault.Damage {
		return nil, fmt.Errorf("get object %s: %w", key, d.err())
	}
	b, err := s.objects.GetObject(ctx, key)
	if err != nil {
		return nil, err
	}
	switch {
	case d.faulty && d.fault.Damage:
		if len(b) > 0 {
			b[d.pick%uint64(len(b))] ^= 1 << (d.pick >> 61)
		}
	case d.faulty:
		return nil, fmt.Errorf("get object %s: %w", key, d.err())
	}
	return b, nil
}

// ListObjects lists the wrapped objects. A faulty call stops after a
// random part of them (0 to 3 keys), with an error or, with Short,
// silently: a listing that lost its last pages.
func (s *Store) ListObjects(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return s.ListObjectsDated(ctx, prefix, func(key string, size int64, _ time.Time) error { return fn(key, size) })
}

// ListObjectsDated is ListObjects with the wrapped objects' dates; its
// faults are ListObjects'.
func (s *Store) ListObjectsDated(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error {
	if s.objects == nil {
		return fmt.Errorf("list objects %s: %w", prefix, ErrNoObjects)
	}
	d, err := s.decide(ctx, ListObjects)
	if err != nil {
		return fmt.Errorf("list objects %s: %w", prefix, err)
	}
	if !d.faulty {
		return s.objects.ListObjectsDated(ctx, prefix, fn)
	}
	errCut := errors.New("cut")
	keep := int(d.pick % 4)
	n := 0
	err = s.objects.ListObjectsDated(ctx, prefix, func(key string, size int64, modified time.Time) error {
		if n >= keep {
			return errCut
		}
		n++
		return fn(key, size, modified)
	})
	switch {
	case err != nil && !errors.Is(err, errCut):
		return err
	case d.fault.Short:
		return nil
	}
	return fmt.Errorf("list objects %s: %w", prefix, d.err())
}

// DeleteObject deletes from the wrapped objects.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	if s.objects == nil {
		return fmt.Errorf("delete object %s: %w", key, ErrNoObjects)
	}
	d, err := s.decide(ctx, DeleteObject)
	if err != nil {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	if d.faulty && !d.fault.Lost {
		return fmt.Errorf("delete object %s: %w", key, d.err())
	}
	if err := s.objects.DeleteObject(ctx, key); err != nil {
		return err
	}
	if d.faulty {
		return fmt.Errorf("delete object %s: %w", key, d.err())
	}
	return nil
}
