package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/storetest"
)

func newLocal(t *testing.T) (l *blobstore.Local, dir, tmp string) {
	t.Helper()
	root := t.TempDir()
	dir, tmp = filepath.Join(root, "packs"), filepath.Join(root, "tmp")
	l, err := blobstore.NewLocal(dir, tmp)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	return l, dir, tmp
}

func TestLocalConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blobstore.Store {
		l, _, _ := newLocal(t)
		return l
	})
}

func put(t *testing.T, s blobstore.Store, data []byte) string {
	t.Helper()
	ctx := context.Background()
	up, err := s.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer up.Abort()
	if _, err := up.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	name := blobstore.Sum(data).String()
	if err := up.Commit(ctx, name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return name
}

func assertEmpty(t *testing.T, dir, when string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s: %s left in tmp dir", when, e.Name())
	}
}

func TestLocalLayout(t *testing.T) {
	ctx := context.Background()
	l, dir, tmp := newLocal(t)
	defer l.Close()

	data := []byte("pack bytes")
	name := put(t, l, data)
	got, err := os.ReadFile(filepath.Join(dir, name[:2], name+".pack"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("pack file = %q, %v; want %q", got, err, data)
	}
	assertEmpty(t, tmp, "after Commit")

	put(t, l, data)
	assertEmpty(t, tmp, "after committing an existing name")

	up, err := l.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("discarded"))
	if err := up.Commit(ctx, "../escape"); !errors.Is(err, blobstore.ErrInvalidName) {
		t.Errorf("Commit(../escape): %v", err)
	}
	if err := up.Abort(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, tmp, "after Abort")

	// Same name, different size: not the same pack, so refuse.
	up, err = l.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("other bytes"))
	if err := up.Commit(ctx, name); err == nil {
		t.Error("Commit over an existing pack of another size succeeded")
	}
	up.Abort()
	assertEmpty(t, tmp, "after refused Commit and Abort")
	if got, _ := os.ReadFile(filepath.Join(dir, name[:2], name+".pack")); !bytes.Equal(got, data) {
		t.Errorf("existing pack overwritten: %q", got)
	}
}

func TestLocalListIgnoresStrays(t *testing.T) {
	l, dir, _ := newLocal(t)
	defer l.Close()
	name := put(t, l, []byte("real"))

	other := strings.Repeat("cd", 32)
	for _, p := range []string{
		"README",
		other + ".pack",                           // not in a fan-out dir
		filepath.Join(name[:2], "notes.txt"),      // wrong name
		filepath.Join(name[:2], other+".pack"),    // wrong fan-out dir
		filepath.Join(name[:2], name+".pack.tmp"), // wrong suffix
		filepath.Join(name[:2], strings.ToUpper(other)+".pack"),
		filepath.Join("zz", other+".pack"),
		filepath.Join("abc", other+".pack"),
	} {
		p = filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "cd", other+".pack"), 0o700) // directory, not a file

	var got []string
	err := l.List(context.Background(), func(n string, _ int64) error {
		got = append(got, n)
		return nil
	})
	if err != nil || len(got) != 1 || got[0] != name {
		t.Errorf("List = %v, %v; want [%s]", got, err, name)
	}
}

func TestLocalHandleCache(t *testing.T) {
	ctx := context.Background()
	l, _, _ := newLocal(t)
	n := blobstore.MaxOpenPacks + 8
	var names []string
	var datas [][]byte
	for i := range n {
		d := []byte(fmt.Sprintf("pack number %d", i))
		names = append(names, put(t, l, d))
		datas = append(datas, d)
	}
	for round := range 3 {
		for i, name := range names {
			p := make([]byte, len(datas[i]))
			if err := l.ReadAt(ctx, name, p, 0); err != nil || !bytes.Equal(p, datas[i]) {
				t.Fatalf("round %d: ReadAt(%d) = %q, %v", round, i, p, err)
			}
		}
		if h := l.OpenHandles(); h != blobstore.MaxOpenPacks {
			t.Errorf("round %d: %d cached handles; want %d", round, h, blobstore.MaxOpenPacks)
		}
	}

	last := names[n-1] // most recently read, so cached
	if err := l.Delete(ctx, last); err != nil {
		t.Fatal(err)
	}
	if h := l.OpenHandles(); h != blobstore.MaxOpenPacks-1 {
		t.Errorf("after Delete: %d cached handles; want %d", h, blobstore.MaxOpenPacks-1)
	}
	// A stale cached handle would still read the unlinked file.
	if err := l.ReadAt(ctx, last, make([]byte, 1), 0); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadAt after Delete: %v; want ErrNotFound", err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if h := l.OpenHandles(); h != 0 {
		t.Errorf("after Close: %d cached handles", h)
	}
	if err := l.ReadAt(ctx, names[0], make([]byte, 1), 0); err == nil {
		t.Error("ReadAt after Close succeeded")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestLocalReadDeleteRace evicts and deletes handles while reads are in
// flight; under -race it checks the handle reference counting.
func TestLocalReadDeleteRace(t *testing.T) {
	ctx := context.Background()
	l, _, _ := newLocal(t)
	defer l.Close()
	n := blobstore.MaxOpenPacks * 2
	var names []string
	var datas [][]byte
	for i := range n {
		d := bytes.Repeat([]byte{byte(i)}, 1000+i)
		names = append(names, put(t, l, d))
		datas = append(datas, d)
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			p := make([]byte, 1000)
			for k := range 300 {
				i := (g*7 + k*13) % n
				err := l.ReadAt(ctx, names[i], p, int64(k%(len(datas[i])-len(p)+1)))
				if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
					t.Errorf("ReadAt: %v", err)
					return
				}
				if err == nil && !bytes.Equal(p, datas[i][:len(p)]) {
					t.Errorf("ReadAt(%d) returned different bytes", i)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; i < n; i += 3 {
			if err := l.Delete(ctx, names[i]); err != nil {
				t.Errorf("Delete: %v", err)
			}
		}
	})
	wg.Wait()
	for i := 0; i < n; i += 3 {
		if err := l.ReadAt(ctx, names[i], make([]byte, 1), 0); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("ReadAt(%d) after Delete: %v; want ErrNotFound", i, err)
		}
	}
}

func TestNewLocalCreatesDirs(t *testing.T) {
	root := t.TempDir()
	dir, tmp := filepath.Join(root, "a", "b"), filepath.Join(root, "c", "d")
	l, err := blobstore.NewLocal(dir, tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, d := range []string{dir, tmp} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s not created: %v", d, err)
		}
	}
}
