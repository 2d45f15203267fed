package cairn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestUpgradeKilledAfterSwitchStaleSnapshot: a snapshot that opened the
// repository as format 1 and waits for the lock while cairn upgrade runs;
// the upgrade is killed right after its switch (cairn.repo written),
// before it retires the old catalog. The snapshot then got the lock and
// committed to the old catalog, which nothing reads any more: it said
// "snapshot 3" and the snapshot was gone, and the next cairn upgrade
// deleted its packs with the old ones.
func TestUpgradeKilledAfterSwitchStaleSnapshot(t *testing.T) {
	ctx := context.Background()
	repo, src := newFormat1(t)
	stale, err := Open(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	killed := errors.New("killed")
	upgradeStep = func(s string) error {
		if s == "switched" {
			return killed
		}
		return nil
	}
	_, err = Upgrade(ctx, repo, Options{})
	upgradeStep = nil
	if !errors.Is(err, killed) {
		t.Fatalf("upgrade: %v, want it killed after the switch", err)
	}
	os.WriteFile(filepath.Join(src, "notes", "n02.json"), []byte(`{"note": 2, "text": "too late"}`), 0o644)
	backdate(t, src)
	if res, err := stale.Snapshot(ctx, src, SnapshotOptions{}); err == nil {
		t.Errorf("a snapshot through a Repo opened as format 1 before the switch committed snapshot %d to the old catalog", res.ID)
	}
}
