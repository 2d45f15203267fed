package cairn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/procid"
	"github.com/cairn-dev/cairn/restore"
)

// A hold keeps snapshots from being forgotten by any retention policy (the
// one after every snap, in another process too, and an explicit forget with
// rules) while a command reads them. It is a row in the catalog, so it works
// across processes, naming the holder process by host, boot id, pid and the
// process's start time. A killed holder cannot release its hold, so a hold
// whose process is gone counts for nothing and is deleted by the next
// policy run: the pid alone could be reused by an unrelated process, the
// start time (and the boot id, across a reboot) tells them apart. We chose
// liveness over an expiry because a restore of a large tree may take longer
// than any expiry we would pick, and an expired hold during a running
// restore is exactly the loss this prevents. A hold taken on another host
// (a repository on shared storage) cannot be checked and lapses after
// foreignHoldFor.
const foreignHoldFor = 24 * time.Hour

// ErrHeld refuses to forget a snapshot that a running command reads.
var ErrHeld = errors.New("snapshot is in use")

// holdSnapshots holds the snapshots ids until release is called (or this
// process ends). reason says what holds them ("restore"). release may be
// called more than once. On a catalog that cannot be written no policy can
// forget anything either, so there the hold is a no-op.
func (r *Repo) holdSnapshots(ctx context.Context, reason string, ids ...int64) (release func(), err error) {
	if len(ids) == 0 || r.readOnly {
		return func() {}, nil
	}
	holder := processHolder(os.Getpid())
	now := r.now()
	holds := make([]catalog.Hold, len(ids))
	for i, id := range ids {
		holds[i] = catalog.Hold{SnapshotID: id, Reason: reason, Holder: holder, PID: os.Getpid(), Created: now}
	}
	rows, err := r.db.AddHolds(ctx, holds)
	if errors.Is(err, catalog.ErrOpenedReadOnly) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// The command's context may be cancelled by now; the release
			// must still happen. If it fails, the hold dies with us.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = r.db.DropHolds(ctx, rows)
		})
	}, nil
}

// requestSnapshots lists the distinct snapshots restore requests read.
func requestSnapshots(reqs []restore.Request) []int64 {
	seen := map[int64]bool{}
	var ids []int64
	for _, req := range reqs {
		if id := req.Snapshot.ID; id != 0 && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// processHolder names process pid as "host boot-id pid start-ticks
// pid-namespace". Where /proc is missing, boot id, start time and
// namespace are "-" and liveness falls back to whether the pid exists.
func processHolder(pid int) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s %s %d %s %s", orDash(host), orDash(procid.BootID()), pid,
		orDash(procid.StartTicks(pid)), orDash(procid.PIDNamespace()))
}

// holderAlive reports whether the process a hold names still runs. Holds
// written before the namespace was recorded have four fields.
func holderAlive(holder string, created, now time.Time) bool {
	f := strings.Fields(holder)
	if len(f) != 4 && len(f) != 5 {
		return false // not a holder we wrote
	}
	host, boot, start := f[0], f[1], f[3]
	pid, err := strconv.Atoi(f[2])
	if err != nil || pid <= 0 {
		return false
	}
	if me, _ := os.Hostname(); host != orDash(me) {
		return now.Sub(created) < foreignHoldFor
	}
	if boot != "-" && boot != orDash(procid.BootID()) {
		return false // taken before a reboot
	}
	// Another container on this kernel, sharing the catalog: its pids are
	// not ours to look up, so it is judged by time like another host.
	if len(f) == 5 && f[4] != "-" && f[4] != orDash(procid.PIDNamespace()) {
		return now.Sub(created) < foreignHoldFor
	}
	if start != "-" {
		return procid.StartTicks(pid) == start
	}
	// No /proc: signal 0 tells whether the pid exists (EPERM: it does, as
	// another user's process).
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
