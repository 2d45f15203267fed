package blobstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestPutObjectSurvivesTmpCleaning: gc empties the tmp directory while
// puts run outside any lock. Every put must still land, and a temp file
// no writer holds (a killed process's) must go.
func TestPutObjectSurvivesTmpCleaning(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	tmp := filepath.Join(base, "tmp")
	o, err := NewLocalObjects(filepath.Join(base, "objects"), tmp)
	if err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(tmp, TempObjectPrefix+"killed")
	if err := os.WriteFile(dead, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var sweeps atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			entries, _ := os.ReadDir(tmp)
			for _, e := range entries {
				RemoveDeadTemp(filepath.Join(tmp, e.Name()))
			}
			sweeps.Add(1)
		}
	}()
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("log/w/%05d", i)
		if err := o.PutObject(ctx, key, []byte(key)); err != nil {
			stop.Store(true)
			<-done
			t.Fatalf("put %d while tmp was being cleaned: %v", i, err)
		}
	}
	stop.Store(true)
	<-done
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("log/w/%05d", i)
		b, err := o.GetObject(ctx, key)
		if err != nil || string(b) != key {
			t.Fatalf("object %s: %q, %v", key, b, err)
		}
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("a temp file no writer holds stayed: %v", err)
	}
	if sweeps.Load() == 0 {
		t.Fatal("the cleaner never ran")
	}
}
