package faultstore_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/faultstore"
	"github.com/cairn-dev/cairn/blobstore/memstore"
	"github.com/cairn-dev/cairn/blobstore/storetest"
)

func TestConformanceWithoutFaults(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blobstore.Store { return faultstore.New(memstore.New(), 1) })
}

func TestConformanceOverLocalWithLatency(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blobstore.Store {
		dir := t.TempDir()
		l, err := blobstore.NewLocal(filepath.Join(dir, "packs"), filepath.Join(dir, "tmp"))
		if err != nil {
			t.Fatal(err)
		}
		s := faultstore.New(l, 2)
		for _, op := range []faultstore.Op{faultstore.Create, faultstore.Commit, faultstore.ReadAt, faultstore.List} {
			s.Set(op, faultstore.Fault{Delay: 50 * time.Microsecond})
		}
		return s
	})
}

func put(t *testing.T, s blobstore.Store, data []byte) (string, error) {
	t.Helper()
	ctx := context.Background()
	up, err := s.Create(ctx)
	if err != nil {
		return "", err
	}
	defer up.Abort()
	if _, err := up.Write(data); err != nil {
		return "", err
	}
	name := blobstore.Sum(data).String()
	return name, up.Commit(ctx, name)
}

func exists(t *testing.T, s blobstore.Store, name string) bool {
	t.Helper()
	_, err := s.Stat(context.Background(), name)
	if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestCommitFails(t *testing.T) {
	mem := memstore.New()
	s := faultstore.New(mem, 1)
	s.Set(faultstore.Commit, faultstore.Fault{Nth: 2})
	first, err := put(t, s, []byte("first"))
	if err != nil {
		t.Fatalf("first commit: %v", err)
	}
	second, err := put(t, s, []byte("second"))
	if !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("second commit = %v; want ErrInjected", err)
	}
	if !exists(t, mem, first) || exists(t, mem, second) {
		t.Error("a failed commit left its pack, or a good one lost it")
	}
	if s.Calls(faultstore.Commit) != 2 || s.Injected(faultstore.Commit) != 1 {
		t.Errorf("Calls, Injected = %d, %d; want 2, 1", s.Calls(faultstore.Commit), s.Injected(faultstore.Commit))
	}
}

func TestCommitResponseLost(t *testing.T) {
	mem := memstore.New()
	s := faultstore.New(mem, 1)
	custom := errors.New("connection reset")
	s.Set(faultstore.Commit, faultstore.Fault{Nth: 1, Lost: true, Err: custom})
	name, err := put(t, s, []byte("durable"))
	if !errors.Is(err, custom) {
		t.Fatalf("commit = %v; want the fault's error", err)
	}
	if !exists(t, mem, name) {
		t.Error("a commit whose response was lost did not commit")
	}
	// The caller retries; content addressing makes that harmless.
	if _, err := put(t, s, []byte("durable")); err != nil {
		t.Errorf("retried commit: %v", err)
	}
}

func TestDeleteResponseLost(t *testing.T) {
	mem := memstore.New()
	s := faultstore.New(mem, 1)
	name, err := put(t, s, []byte("doomed"))
	if err != nil {
		t.Fatal(err)
	}
	s.Set(faultstore.Delete, faultstore.Fault{Nth: 1, Lost: true})
	if err := s.Delete(context.Background(), name); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("Delete = %v; want ErrInjected", err)
	}
	if exists(t, mem, name) {
		t.Error("a delete whose response was lost did not delete")
	}
	if err := s.Delete(context.Background(), name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("retried Delete = %v; want ErrNotFound", err)
	}
}

func TestWriteFails(t *testing.T) {
	s := faultstore.New(memstore.New(), 1)
	s.Set(faultstore.Write, faultstore.Fault{Nth: 1})
	if _, err := put(t, s, []byte("never")); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("put = %v; want ErrInjected", err)
	}
}

func TestListCutShort(t *testing.T) {
	mem := memstore.New()
	s := faultstore.New(mem, 3)
	for _, d := range []string{"a", "b", "c", "d", "e", "f"} {
		if _, err := put(t, s, []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (int, error) {
		n := 0
		err := s.List(context.Background(), func(string, int64) error { n++; return nil })
		return n, err
	}
	s.Set(faultstore.List, faultstore.Fault{Probability: 1, Short: true})
	if n, err := count(); err != nil || n >= 6 {
		t.Errorf("short List = %d packs, %v; want fewer than 6, no error", n, err)
	}
	s.Set(faultstore.List, faultstore.Fault{Probability: 1})
	if n, err := count(); !errors.Is(err, faultstore.ErrInjected) || n >= 6 {
		t.Errorf("failing List = %d packs, %v; want fewer than 6 and ErrInjected", n, err)
	}
	s.Clear()
	if n, err := count(); err != nil || n != 6 {
		t.Errorf("List after Clear = %d, %v; want 6", n, err)
	}
}

// TestDamagedReadIsCaught: the store lies, the chunk check does not.
func TestDamagedReadIsCaught(t *testing.T) {
	ctx := context.Background()
	s := faultstore.New(memstore.New(), 4)
	w, err := blobstore.NewPackWriter(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("chunk "), 1000)
	e, err := w.Add(blobstore.Sum(chunk), len(chunk), blobstore.Encode(nil, chunk))
	if err != nil {
		t.Fatal(err)
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(faultstore.ReadAt, faultstore.Fault{Probability: 1, Damage: true})
	for range 20 {
		if _, err := blobstore.ReadChunk(ctx, s, nil, info.Name, e, nil); !errors.Is(err, blobstore.ErrCorrupt) {
			t.Fatalf("ReadChunk through a damaging store = %v; want ErrCorrupt", err)
		}
	}
	s.Clear()
	if got, err := blobstore.ReadChunk(ctx, s, nil, info.Name, e, nil); err != nil || !bytes.Equal(got, chunk) {
		t.Errorf("ReadChunk after Clear = %v", err)
	}
}

// TestSeededReplay: the same seed makes the same calls faulty.
func TestSeededReplay(t *testing.T) {
	run := func(seed uint64) []bool {
		s := faultstore.New(memstore.New(), seed)
		s.Set(faultstore.Stat, faultstore.Fault{Probability: 0.5})
		var out []bool
		for range 64 {
			_, err := s.Stat(context.Background(), blobstore.Sum(nil).String())
			out = append(out, errors.Is(err, faultstore.ErrInjected))
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Error("one seed gave two fault sequences")
	}
	if slices.Equal(a, c) {
		t.Error("two seeds gave one fault sequence")
	}
}

func TestDelayHonoursContext(t *testing.T) {
	s := faultstore.New(memstore.New(), 1)
	s.Set(faultstore.Stat, faultstore.Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Stat(ctx, blobstore.Sum(nil).String()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stat with an hour's delay = %v; want the context's deadline", err)
	}
}
