package catalog

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestStateIDs: commitHistory's snapshots all change something; an
// unchanged commit continues the live state, even after the snapshot before
// it was forgotten.
func TestStateIDs(t *testing.T) {
	db, _ := openNew(t)
	ctx := context.Background()
	ids := commitHistory(t, db)
	unchanged := func(at time.Duration) int64 {
		t.Helper()
		id, err := db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0.Add(at), Finished: t0.Add(at)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	u1 := unchanged(3 * time.Hour)
	if _, err := db.Forget(ctx, []int64{u1}); err != nil {
		t.Fatal(err)
	}
	u2 := unchanged(4 * time.Hour)
	st, err := db.SnapshotStates(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]int64{ids[0]: ids[0], ids[1]: ids[1], ids[2]: ids[2], u2: ids[2]}
	for id, s := range want {
		if st[id] != s {
			t.Errorf("snapshot %d has state %d, want %d (all: %v)", id, st[id], s, st)
		}
	}
}

// TestHoldsAndForgetUnheld: a hold names an existing snapshot; a policy's
// forget deletes the holds it judged dead and keeps a snapshot that gained
// a process hold after the policy decided.
func TestHoldsAndForgetUnheld(t *testing.T) {
	db, _ := openNew(t)
	ctx := context.Background()
	ids := commitHistory(t, db)
	if _, err := db.AddHolds(ctx, []Hold{{SnapshotID: 999, Reason: "x", Holder: "h", Created: t0}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("hold of a missing snapshot: %v, want ErrNotFound", err)
	}
	hs, err := db.AddHolds(ctx, []Hold{
		{SnapshotID: ids[0], Reason: "restore", Holder: "dead", PID: 1, Created: t0},
		{SnapshotID: ids[1], Reason: "restore", Holder: "new", PID: 2, Created: t0},
		{SnapshotID: ids[1], Reason: "warning of snapshot 3", Created: t0, Expires: t0.Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	holds, err := db.Holds(ctx, 0)
	if err != nil || len(holds) != 3 || holds[2].Expires != t0.Add(time.Hour) || holds[0].Holder != "dead" || holds[1].PID != 2 {
		t.Fatalf("Holds = %+v, %v", holds, err)
	}
	st, kept, err := db.ForgetUnheld(ctx, []int64{ids[0], ids[1]}, []int64{hs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshots != 1 || !slices.Equal(kept, []int64{ids[1]}) {
		t.Errorf("ForgetUnheld forgot %d snapshots and kept %v; want 1 and [%d]", st.Snapshots, kept, ids[1])
	}
	if holds, _ := db.Holds(ctx, 0); len(holds) != 2 {
		t.Errorf("after ForgetUnheld: holds %+v; want the two on snapshot %d", holds, ids[1])
	}
	if err := db.DropHolds(ctx, hs[:2]); err != nil {
		t.Fatal(err)
	}
	if holds, _ := db.Holds(ctx, 0); len(holds) != 1 || !holds[0].Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("after DropHolds: %+v; want only the warning hold", holds)
	}
}

// TestHoldsLeaveCommitsSynced: a process's holds are committed without an
// fsync (synchronous=NORMAL for that one transaction); every other commit
// of the writer must still be synced (FULL), after a hold that failed too.
func TestHoldsLeaveCommitsSynced(t *testing.T) {
	db, _ := openNew(t)
	ctx := context.Background()
	ids := commitHistory(t, db)
	synced := func(step string) {
		t.Helper()
		if got := pragmaInt(t, db.w, "synchronous"); got != 2 {
			t.Fatalf("after %s: the writer's synchronous = %d, want 2 (FULL)", step, got)
		}
	}
	synced("open")
	hs, err := db.AddHolds(ctx, []Hold{{SnapshotID: ids[0], Reason: "restore", Holder: "h 1", PID: 1, Created: t0}})
	if err != nil {
		t.Fatal(err)
	}
	synced("AddHolds")
	if _, err := db.AddHolds(ctx, []Hold{{SnapshotID: 999, Reason: "restore", Holder: "h 1", Created: t0}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("hold of a missing snapshot: %v, want ErrNotFound", err)
	}
	synced("a refused AddHolds")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.AddHolds(cctx, []Hold{{SnapshotID: ids[0], Reason: "restore", Holder: "h 1", Created: t0}}); err == nil {
		t.Fatal("AddHolds with a cancelled context succeeded")
	}
	synced("AddHolds with a cancelled context")
	if err := db.DropHolds(ctx, hs); err != nil {
		t.Fatal(err)
	}
	synced("DropHolds")
	if holds, err := db.Holds(ctx, 0); err != nil || len(holds) != 0 {
		t.Fatalf("after DropHolds: %+v, %v", holds, err)
	}
}
