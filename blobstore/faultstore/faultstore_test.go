package faultstore_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/faultstore"
	"github.com/cairn-dev/cairn/blobstore/memstore"
	"github.com/cairn-dev/cairn/blobstore/s3store"
	"github.com/cairn-dev/cairn/blobstore/storetest"
	"github.com/cairn-dev/cairn/internal/s3test"
)

// inner is a store with objects, as faultstore wraps.
type inner interface {
	blobstore.Store
	blobstore.Objects
}

// newS3 opens an S3 store under a fresh prefix of srv's bucket.
func newS3(t *testing.T, srv *s3test.Server) *s3store.Store {
	t.Helper()
	s, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: s3test.Prefix(),
		Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""), TmpDir: t.TempDir(), Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// each runs a fault test over memstore and over the S3 store on a real
// versitygw, so that the faults meet the store they imitate.
func each(t *testing.T, fn func(t *testing.T, in inner)) {
	t.Run("mem", func(t *testing.T) { fn(t, memstore.New()) })
	t.Run("s3", func(t *testing.T) { fn(t, newS3(t, s3test.Versity(t))) })
}

func TestConformanceOverS3(t *testing.T) {
	srv := s3test.Versity(t)
	storetest.Run(t, func(t *testing.T) blobstore.Store { return faultstore.New(newS3(t, srv), 5) })
}

func TestObjectsConformance(t *testing.T) {
	t.Run("mem", func(t *testing.T) {
		storetest.RunObjects(t, func(t *testing.T) blobstore.Objects { return faultstore.New(memstore.New(), 6) })
	})
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Versity(t)
		storetest.RunObjects(t, func(t *testing.T) blobstore.Objects {
			s := faultstore.New(newS3(t, srv), 7)
			s.Set(faultstore.PutObject, faultstore.Fault{Delay: 50 * time.Microsecond})
			return s
		})
	})
}

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
	each(t, func(t *testing.T, in inner) {
		mem := in
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
	})
}

func TestCommitResponseLost(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		mem := in
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
	})
}

func TestDeleteResponseLost(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		mem := in
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
	})
}

func TestWriteFails(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		s := faultstore.New(in, 1)
		s.Set(faultstore.Write, faultstore.Fault{Nth: 1})
		if _, err := put(t, s, []byte("never")); !errors.Is(err, faultstore.ErrInjected) {
			t.Errorf("put = %v; want ErrInjected", err)
		}
	})
}

func TestListCutShort(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		mem := in
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
	})
}

// TestDamagedReadIsCaught: the store lies, the chunk check does not.
func TestDamagedReadIsCaught(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		ctx := context.Background()
		s := faultstore.New(in, 4)
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
	})
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

// TestPutObjectResponseLost: the record is stored although the writer
// was told it failed; its retry meets ErrExists and must read the
// object back to learn that the record is its own.
func TestPutObjectResponseLost(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		ctx := context.Background()
		s := faultstore.New(in, 1)
		s.Set(faultstore.PutObject, faultstore.Fault{Nth: 1, Lost: true})
		if err := s.PutObject(ctx, "log/w/1", []byte("record")); !errors.Is(err, faultstore.ErrInjected) {
			t.Fatalf("PutObject = %v; want ErrInjected", err)
		}
		if b, err := in.GetObject(ctx, "log/w/1"); err != nil || string(b) != "record" {
			t.Errorf("a put whose response was lost did not put: %q, %v", b, err)
		}
		if err := s.PutObject(ctx, "log/w/1", []byte("record")); !errors.Is(err, blobstore.ErrExists) {
			t.Errorf("retried PutObject = %v; want ErrExists", err)
		}
	})
}

func TestPutObjectFails(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		ctx := context.Background()
		s := faultstore.New(in, 1)
		s.Set(faultstore.PutObject, faultstore.Fault{Nth: 2})
		if err := s.PutObject(ctx, "log/w/1", []byte("one")); err != nil {
			t.Fatal(err)
		}
		if err := s.PutObject(ctx, "log/w/2", []byte("two")); !errors.Is(err, faultstore.ErrInjected) {
			t.Fatalf("second PutObject = %v; want ErrInjected", err)
		}
		if _, err := in.GetObject(ctx, "log/w/2"); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("a failed put left its object: %v", err)
		}
	})
}

func TestObjectsListCutShort(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		ctx := context.Background()
		s := faultstore.New(in, 3)
		for i := range 6 {
			if err := s.PutObject(ctx, "log/w/"+string(rune('a'+i)), []byte("r")); err != nil {
				t.Fatal(err)
			}
		}
		count := func() ([]string, error) {
			var keys []string
			err := s.ListObjects(ctx, "log/", func(k string, _ int64) error { keys = append(keys, k); return nil })
			return keys, err
		}
		s.Set(faultstore.ListObjects, faultstore.Fault{Probability: 1, Short: true})
		keys, err := count()
		if err != nil || len(keys) >= 6 {
			t.Errorf("short ListObjects = %q, %v; want fewer than 6, no error", keys, err)
		}
		// What a cut listing reports is a prefix of the whole, in order.
		if !slices.IsSorted(keys) || (len(keys) > 0 && keys[0] != "log/w/a") {
			t.Errorf("short ListObjects = %q; want the first keys in order", keys)
		}
		s.Set(faultstore.ListObjects, faultstore.Fault{Probability: 1})
		if keys, err := count(); !errors.Is(err, faultstore.ErrInjected) || len(keys) >= 6 {
			t.Errorf("failing ListObjects = %q, %v; want fewer than 6 and ErrInjected", keys, err)
		}
		s.Clear()
		if keys, err := count(); err != nil || len(keys) != 6 {
			t.Errorf("ListObjects after Clear = %q, %v; want 6", keys, err)
		}
	})
}

func TestObjectFaults(t *testing.T) {
	each(t, func(t *testing.T, in inner) {
		ctx := context.Background()
		s := faultstore.New(in, 9)
		if err := s.PutObject(ctx, "cairn.repo", []byte("repository")); err != nil {
			t.Fatal(err)
		}
		s.Set(faultstore.GetObject, faultstore.Fault{Nth: 1, Damage: true})
		if b, err := s.GetObject(ctx, "cairn.repo"); err != nil || string(b) == "repository" || len(b) != 10 {
			t.Errorf("damaged GetObject = %q, %v; want 10 bytes with one flipped", b, err)
		}
		if b, err := s.GetObject(ctx, "cairn.repo"); err != nil || string(b) != "repository" {
			t.Errorf("GetObject after the damage = %q, %v", b, err)
		}
		s.Set(faultstore.DeleteObject, faultstore.Fault{Nth: 1, Lost: true})
		if err := s.DeleteObject(ctx, "cairn.repo"); !errors.Is(err, faultstore.ErrInjected) {
			t.Errorf("DeleteObject = %v; want ErrInjected", err)
		}
		if err := s.DeleteObject(ctx, "cairn.repo"); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("retried DeleteObject = %v; want ErrNotFound (the lost one deleted)", err)
		}
		if s.Calls(faultstore.DeleteObject) != 2 || s.Injected(faultstore.DeleteObject) != 1 {
			t.Errorf("Calls, Injected = %d, %d", s.Calls(faultstore.DeleteObject), s.Injected(faultstore.DeleteObject))
		}
	})
	if err := faultstore.New(blobstore.Store(nil), 1).PutObject(context.Background(), "x", nil); !errors.Is(err, faultstore.ErrNoObjects) {
		t.Errorf("PutObject without objects = %v; want ErrNoObjects", err)
	}
}
