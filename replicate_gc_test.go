package cairn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/internal/s3test"
	"github.com/cairn-dev/cairn/metalog"
)

// TestReplicaFollowsGC: snapshots replicated to a bucket and a directory;
// forget and gc here delete and repack packs and prune the log behind two
// checkpoints; the next replicate removes the same from each replica,
// which shrinks to what this repository holds, while a pack lost here to
// damage keeps its replica copy. A new machine recovers each replica and
// restores every remaining snapshot byte for byte. A replica that was
// written to since is refused, and nothing on it changes.
func TestReplicaFollowsGC(t *testing.T) {
	defer func(r int64) { metalog.RecordsPerCheckpoint = r }(metalog.RecordsPerCheckpoint)
	metalog.RecordsPerCheckpoint = 3
	ctx := context.Background()
	srv := s3test.Versity(t)
	remoteEnv(t, srv)
	base := t.TempDir()
	pw := cairn.Options{Password: []byte("correct horse"), S3Endpoint: srv.Endpoint}
	create := pw
	create.Create = true
	dir := filepath.Join(base, "repo")
	repo, err := cairn.Open(ctx, dir, create)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { repo.Close() }()
	h := &history{src: filepath.Join(base, "src")}
	writeTree(t, h.src, 1)
	h.snap(t, repo)
	// The big files go: only the first snapshot holds them.
	for i := range 3 {
		if err := os.Remove(filepath.Join(h.src, fmt.Sprintf("big%d.bin", i))); err != nil {
			t.Fatal(err)
		}
	}
	for round := 1; round <= 7; round++ {
		h.change(t, round)
		h.snap(t, repo)
	}

	prefix := s3test.Prefix() + "/replica"
	replica := "s3://" + srv.Bucket + "/" + prefix
	dirReplica := filepath.Join(base, "replica")
	ropts := cairn.ReplicateOptions{S3Endpoint: srv.Endpoint}
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	// contents lists a replica: key (relative to its top) -> size.
	contents := func(to string) map[string]int64 {
		out := map[string]int64{}
		if to == replica {
			for obj := range client.ListObjects(ctx, srv.Bucket, minio.ListObjectsOptions{Prefix: prefix + "/", Recursive: true}) {
				if obj.Err != nil {
					t.Fatal(obj.Err)
				}
				out[strings.TrimPrefix(obj.Key, prefix+"/")] = obj.Size
			}
			return out
		}
		top := to
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			rel, _ := filepath.Rel(top, p)
			if err != nil || d.IsDir() || strings.HasPrefix(rel, "local/") {
				return nil
			}
			info, _ := d.Info()
			out[rel] = info.Size()
			return nil
		})
		return out
	}
	total := func(m map[string]int64) (n int64) {
		for _, s := range m {
			n += s
		}
		return n
	}
	before := map[string]int64{}
	for _, to := range []string{replica, dirReplica} {
		if _, err := repo.Replicate(ctx, to, ropts); err != nil {
			t.Fatalf("replicate to %s: %v", to, err)
		}
		before[to] = total(contents(to))
	}

	// Forget the first snapshot and collect: its big files' packs go, the
	// others are repacked or merged; gc prunes the log.
	if _, err := repo.Forget(ctx, cairn.ForgetOptions{IDs: h.ids[:1]}); err != nil {
		t.Fatal(err)
	}
	h.ids, h.states = h.ids[1:], h.states[1:]
	gcRep, err := repo.GC(ctx, cairn.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if gcRep.DeletedPacks+gcRep.RepackedPacks == 0 {
		t.Fatalf("gc deleted and repacked nothing: %+v", *gcRep)
	}
	here := contents(dir)
	for k := range here {
		if strings.HasPrefix(k, "locks/") {
			delete(here, k)
		}
	}
	var pruned bool
	for k := range contents(dirReplica) {
		if strings.HasPrefix(k, "log/") {
			if _, ok := here[k]; !ok {
				pruned = true
			}
		}
	}
	if !pruned {
		t.Fatal("gc pruned no log record (the test needs checkpoints: RecordsPerCheckpoint)")
	}

	for _, to := range []string{replica, dirReplica} {
		rep, err := repo.Replicate(ctx, to, ropts)
		if err != nil {
			t.Fatalf("replicate after gc to %s: %v", to, err)
		}
		t.Logf("replicate after gc to %s: %+v", to, *rep)
		if rep.RemovedPacks == 0 || rep.RemovedObjects == 0 {
			t.Errorf("replicate after gc to %s removed %d packs and %d objects; want some of each", to, rep.RemovedPacks, rep.RemovedObjects)
		}
		got := contents(to)
		after := total(got)
		if after > before[to]-20<<20 {
			t.Errorf("replica %s: %d bytes before gc, %d after; want the big files' 20+ MiB gone", to, before[to], after)
		}
		var extra, missing []string
		for k := range got {
			if _, ok := here[k]; !ok {
				extra = append(extra, k)
			}
		}
		for k := range here {
			if _, ok := got[k]; !ok {
				missing = append(missing, k)
			}
		}
		slices.Sort(extra)
		slices.Sort(missing)
		if len(extra)+len(missing) > 0 {
			t.Errorf("replica %s holds %v that this repository does not, and lacks %v", to, extra, missing)
		}
	}

	// A live pack lost here (damage, not gc): its row stays, and so does
	// its copy on each replica.
	packs, err := cairn.CatalogForTest(repo).Packs(ctx)
	if err != nil || len(packs) == 0 {
		t.Fatalf("packs: %v, %d", err, len(packs))
	}
	lost := "packs/" + packs[0].Name[:2] + "/" + packs[0].Name + ".pack"
	if err := os.Remove(filepath.Join(dir, lost)); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{replica, dirReplica} {
		rep, err := repo.Replicate(ctx, to, ropts)
		if err != nil {
			t.Fatalf("replicate after a pack was lost to %s: %v", to, err)
		}
		if _, ok := contents(to)[lost]; !ok || rep.RemovedPacks != 0 {
			t.Errorf("replica %s: %+v; its copy of %s, which this repository lost to damage, must stay", to, *rep, lost)
		}
	}

	// A record cut short on the directory replica (what an upload killed
	// by an older cairn left) does not authenticate: it is copied again,
	// not taken for the replica's own.
	recs, _ := filepath.Glob(filepath.Join(dirReplica, "log", "*", "*"))
	slices.Sort(recs)
	if len(recs) == 0 {
		t.Fatal("no record on the directory replica")
	}
	if err := os.Truncate(recs[len(recs)-1], 10); err != nil {
		t.Fatal(err)
	}
	if rep, err := repo.Replicate(ctx, dirReplica, ropts); err != nil || len(rep.Replaced) != 1 {
		t.Fatalf("replicate over a truncated record: %v, %+v; want it replaced", err, rep)
	}

	// A new machine recovers each replica: every remaining snapshot
	// restores byte for byte (the lost pack's chunks from the replica).
	for _, from := range []string{replica, dirReplica} {
		newMachine(t)
		rep, err := cairn.RepairCatalog(ctx, from, pw)
		if err != nil {
			t.Fatalf("recover %s: %v", from, err)
		}
		if rep.Snapshots != len(h.ids) {
			t.Errorf("recover of %s: %d snapshots, want %d", from, rep.Snapshots, len(h.ids))
		}
		r, err := cairn.Open(ctx, from, pw)
		if err != nil {
			t.Fatal(err)
		}
		h.restoreEvery(t, "from "+from, r)
		if from == dirReplica {
			// Written to: the recovered replica takes a snapshot.
			h.change(t, 8)
			if _, err := r.Snapshot(ctx, h.src, cairn.SnapshotOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
	}
	was := contents(dirReplica)
	if _, err := repo.Replicate(ctx, dirReplica, ropts); !errors.Is(err, cairn.ErrReplicaAhead) {
		t.Fatalf("replicate onto a replica written to since: %v, want ErrReplicaAhead", err)
	}
	if now := contents(dirReplica); len(now) != len(was) || total(now) != total(was) {
		t.Errorf("a refused replicate changed the replica: %d objects (%d bytes), was %d (%d)", len(now), total(now), len(was), total(was))
	}
}
