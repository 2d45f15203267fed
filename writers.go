package cairn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/keys"
	"github.com/cairn-dev/cairn/metalog"
)

// Several installations (writers) may share one repository, a directory
// or a bucket: each appends to its own log (log/<writer>/<seq>), packs are
// shared and content-addressed, and snapshots take no lock across hosts.
// A writer reads the others' records when a command needs them (catch-up
// rule, CatchUp below); docs/design.md, "Several writers".

// hostEnv overrides the host name a writer records (two installations on
// one machine, tests).
const hostEnv = "CAIRN_HOST"

// hostName is the name this installation records in its join record.
func hostName() string {
	if h := strings.TrimSpace(os.Getenv(hostEnv)); h != "" {
		return h
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// CatchUpMode says when Open reads the other writers' logs.
type CatchUpMode int

const (
	// CatchUpDue (the default) reads them when the last time was more
	// than CatchUpInterval ago, and always into a catalog just made: a
	// snapshot dedups against the others' chunks it knows, and an
	// unchanged snapshot to a bucket stays at its one request most of
	// the time.
	CatchUpDue CatchUpMode = iota
	// CatchUpAlways reads them at every Open: what history reads,
	// restore, check and gc of the CLI use, which need every writer's
	// rows.
	CatchUpAlways
	// CatchUpNever leaves them to a later command (a new catalog still
	// reads them).
	CatchUpNever
)

// CatchUpInterval is how often a snapshot (CatchUpDue) reads the other
// writers' logs; $CAIRN_CATCHUP_INTERVAL (a Go duration) overrides it.
var CatchUpInterval = 10 * time.Minute

const caughtUpName = "others-caught-up"

// catchUpDue reports whether CatchUpDue should read the others' logs.
func (r *Repo) catchUpDue() bool {
	every := CatchUpInterval
	if s := os.Getenv("CAIRN_CATCHUP_INTERVAL"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			every = d
		}
	}
	fi, err := os.Stat(filepath.Join(r.localDir, caughtUpName))
	return err != nil || r.now().Sub(fi.ModTime()) >= every
}

// catchUpOthers applies the records of every other writer's log that
// this catalog has not applied: one listing of log/ and checkpoints/ to
// find the writers, then per writer a read of its next record. A writer
// that meets another for the first time records its own host name (a
// join record), so that the others can name its snapshots HOST:N.
func (r *Repo) catchUpOthers(ctx context.Context) error {
	if r.log == nil || r.readOnly || r.db == nil {
		return nil
	}
	return r.catchUpInto(ctx, r.db)
}

// catchUpInto is catchUpOthers into db (a catalog being rebuilt).
func (r *Repo) catchUpInto(ctx context.Context, db *catalog.DB) error {
	// The listing that finds the writers says where each log ends: a log
	// with nothing new costs no request of its own.
	// From a bucket it is one LIST, which also holds keys/: what the key
	// file of this machine's copy needs to be confirmed (confirmKeys).
	var keyIDs []string
	listed := false
	ends, err := metalog.ListLogs(ctx, r.objects, func(key string) {
		listed = true
		if id := keys.IDFromObjectKey(key); id != "" {
			keyIDs = append(keyIDs, id)
		}
	})
	if err != nil {
		return fmt.Errorf("%s: %w", r.Dir, err)
	}
	if listed && r.remote {
		if err := r.confirmKeys(keyIDs); err != nil {
			return err
		}
	}
	ws := slices.Sorted(maps.Keys(ends))
	journals := map[string]catalog.Journal{"": listedTo(r.log, ends[r.log.Writer()])}
	for _, w := range ws {
		if w == r.log.Writer() {
			continue
		}
		l, err := metalog.New(r.objects, r.keys, r.id, w)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Dir, err)
		}
		if err := r.startFromCheckpoint(ctx, db, w, l); err != nil {
			return err
		}
		journals[w] = listedTo(prefetchingTo(ctx, l, appliedOf(ctx, db, w), ends[w]), ends[w])
	}
	applied, err := db.CatchUpWriters(ctx, journals)
	if err != nil {
		return fmt.Errorf("%s: apply the other writers' logs: %w", r.Dir, err)
	}
	if len(ws) > 1 || (len(ws) == 1 && ws[0] != r.log.Writer()) {
		if err := db.Join(ctx, hostName()); err != nil {
			return fmt.Errorf("%s: %w", r.Dir, err)
		}
	}
	// The time of this catch-up, for CatchUpDue; a failure costs only an
	// earlier catch-up next time.
	writeCacheFile(filepath.Join(r.localDir, caughtUpName), []byte(strconv.Itoa(applied)+"\n"))
	return nil
}

// appliedOf is the seq of writer w's last record applied to db.
func appliedOf(ctx context.Context, db *catalog.DB, w string) int64 {
	ws, err := db.Writers(ctx)
	if err != nil {
		return 0
	}
	for _, x := range ws {
		if x.ID == w {
			return x.Applied
		}
	}
	return 0
}

// startFromCheckpoint: a writer whose first records are gone (its log was
// pruned, or re-based by a repair) is read from its newest checkpoint.
// That loads only into a catalog without rows (a new writer's, before it
// wrote anything): its ids are mapped, and the checkpoint says how far
// every other writer's log is in it. A catalog with rows of its own and
// none of that writer's is an error naming the writer.
func (r *Repo) startFromCheckpoint(ctx context.Context, db *catalog.DB, w string, l *metalog.Log) error {
	if appliedOf(ctx, db, w) > 0 {
		return nil
	}
	es, err := l.Records(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Dir, err)
	}
	if len(es) > 0 && es[0].Seq == 1 {
		return nil
	}
	seq, state, _, err := l.Start(ctx)
	if err != nil || state == nil {
		return err
	}
	if _, err := db.LoadCheckpointOf(ctx, bytes.NewReader(state), w); err != nil {
		// A gap too: Open rebuilds a catalog behind it (behindOthers).
		return fmt.Errorf("%s: the log of writer %s starts at its checkpoint %d (its older records were pruned): %w: %w: %w",
			r.Dir, w, seq, ErrLogDamaged, metalog.ErrGap, err)
	}
	return nil
}

// foreignBase is the checkpoint a rebuild of this writer's catalog starts
// from when this writer has none of its own and another writer's log
// was pruned (its first records are gone): the newest checkpoint of such
// a writer, which holds every writer's rows as that writer had them.
func (r *Repo) foreignBase(ctx context.Context) (writer string, state []byte, err error) {
	ws, err := metalog.Writers(ctx, r.objects)
	if err != nil {
		return "", nil, err
	}
	for _, w := range ws {
		if w == r.log.Writer() {
			continue
		}
		l, err := metalog.New(r.objects, r.keys, r.id, w)
		if err != nil {
			return "", nil, err
		}
		es, err := l.Records(ctx)
		if err != nil {
			return "", nil, err
		}
		if len(es) > 0 && es[0].Seq == 1 {
			continue
		}
		if _, state, _, err := l.Start(ctx); err != nil || state != nil {
			return w, state, err
		}
	}
	return "", nil, nil
}

// pruneLimit is how far this writer may prune its log in a repository
// with other writers: a rebuild may start from any writer's newest
// checkpoint, which needs this writer's records after the seq it covers
// of them. Math.MaxInt64 when no other writer has a checkpoint (a writer
// without one rebuilds from another's, or from every full log).
func (r *Repo) pruneLimit(ctx context.Context) (int64, error) {
	limit := int64(math.MaxInt64)
	ws, err := metalog.Writers(ctx, r.objects)
	if err != nil {
		return 0, err
	}
	for _, w := range ws {
		if w == r.log.Writer() {
			continue
		}
		l, err := metalog.New(r.objects, r.keys, r.id, w)
		if err != nil {
			return 0, err
		}
		_, state, _, err := l.Start(ctx)
		if err != nil {
			return 0, err
		}
		if state == nil {
			continue
		}
		applied, _, err := catalog.CheckpointApplied(state)
		if err != nil {
			return 0, fmt.Errorf("read the checkpoint of writer %s: %w", w, err)
		}
		limit = min(limit, applied[r.log.Writer()])
	}
	return limit, nil
}

// join records this writer's host name unless the catalog has it.
func (r *Repo) join(ctx context.Context) error {
	if err := r.db.Join(ctx, hostName()); err != nil {
		return fmt.Errorf("%s: %w", r.Dir, err)
	}
	return nil
}

// CatchUp reads every other writer's log now, whatever the catch-up mode
// Open had.
func (r *Repo) CatchUp(ctx context.Context) error { return r.catchUpOthers(ctx) }

// Host is one writer of the repository as this installation knows it.
type Host struct {
	// Writer is the writer id (its log's name); Name the host name its
	// join record gave ("" before it sent one).
	Writer, Name string
	// Self: this installation.
	Self bool
	// AdoptedBy names the host that continues its sources, if any.
	AdoptedBy string
	// Applied is the seq of its last record this catalog applied.
	Applied int64
	// Snapshots counts its snapshots here.
	Snapshots int
}

// Hosts lists the writers this installation knows, itself first.
func (r *Repo) Hosts(ctx context.Context) ([]Host, error) {
	ws, err := r.db.Writers(ctx)
	if err != nil {
		return nil, err
	}
	snaps, err := r.db.Snapshots(ctx, 0)
	if err != nil {
		return nil, err
	}
	count := map[int64]int{}
	for _, s := range snaps {
		count[catalog.SlotOf(s.ID)]++
	}
	bySlot := map[int64]catalog.Writer{}
	for _, w := range ws {
		bySlot[w.Slot] = w
	}
	out := make([]Host, 0, len(ws))
	for _, w := range ws {
		h := Host{Writer: w.ID, Name: w.Host, Self: w.Slot == 0, Applied: w.Applied, Snapshots: count[w.Slot]}
		if h.Self && r.log != nil {
			h.Applied, _ = r.db.AppliedSeq(ctx)
		}
		if w.AdoptedBy >= 0 {
			h.AdoptedBy = hostLabel(bySlot[w.AdoptedBy])
		}
		out = append(out, h)
	}
	return out, nil
}

func hostLabel(w catalog.Writer) string {
	if w.Host != "" {
		return w.Host
	}
	return w.ID
}

// SnapshotName is how a user names snapshot id: "N" for this
// installation's, "HOST:N" for another writer's (HOST its host name, or
// its writer id before it sent one).
func (r *Repo) SnapshotName(ctx context.Context, id int64) string {
	slot := catalog.SlotOf(id)
	if slot == 0 {
		return strconv.FormatInt(id, 10)
	}
	ws, err := r.db.Writers(ctx)
	if err == nil {
		for _, w := range ws {
			if w.Slot == slot {
				return fmt.Sprintf("%s:%d", hostLabel(w), catalog.LocalN(id))
			}
		}
	}
	return strconv.FormatInt(id, 10)
}

// ErrAdopted means another host adopted this one's sources (Adopt): it
// takes no more snapshots of them.
var ErrAdopted = catalog.ErrAdopted

// ErrUnknownHost means a host name or writer id names no writer of the
// repository this installation has met.
var ErrUnknownHost = catalog.ErrUnknownWriter

// HostSnapshotID is the id of snapshot n of host (a host name or a writer
// id; "" is this installation).
func (r *Repo) HostSnapshotID(ctx context.Context, host string, n int64) (int64, error) {
	if n <= 0 || catalog.SlotOf(n) != 0 {
		return 0, fmt.Errorf("snapshot %s:%d: not a snapshot number", host, n)
	}
	if host == "" {
		return n, nil
	}
	slot, err := r.HostSlot(ctx, host)
	if err != nil {
		return 0, err
	}
	return catalog.MakeID(slot, n), nil
}

// HostSlot finds a writer by host name or writer id; this installation's
// own host name is slot 0.
func (r *Repo) HostSlot(ctx context.Context, host string) (int64, error) {
	slot, err := r.db.WriterSlot(ctx, host)
	if errors.Is(err, catalog.ErrUnknownWriter) && (host == hostName() || (r.log != nil && host == r.log.Writer())) {
		return 0, nil
	}
	return slot, err
}

// Adopt makes this installation continue the sources of host (a lost
// machine's): its next snapshot of such a source's path compares against
// and closes that host's versions, and retention and forget of those
// sources become this installation's. It returns the adopted host's
// writer id.
func (r *Repo) Adopt(ctx context.Context, host string, opts AdoptOptions) (string, error) {
	if r.readOnly {
		return "", r.errReadOnly()
	}
	if err := r.catchUpOthers(ctx); err != nil {
		return "", err
	}
	slot, err := r.HostSlot(ctx, host)
	if err != nil {
		return "", err
	}
	if slot == 0 {
		return "", fmt.Errorf("adopt %s: that is this installation", host)
	}
	if !opts.Force {
		if err := r.refuseActiveHost(ctx, host, slot); err != nil {
			return "", err
		}
	}
	if err := r.join(ctx); err != nil {
		return "", err
	}
	if err := r.db.Adopt(ctx, slot); err != nil {
		return "", err
	}
	ws, err := r.db.Writers(ctx)
	if err != nil {
		return "", err
	}
	for _, w := range ws {
		if w.Slot == slot {
			return w.ID, nil
		}
	}
	return "", nil
}

// AdoptOptions tune Adopt.
type AdoptOptions struct {
	// Force adopts a host that wrote to the repository within
	// AdoptIdle: the caller knows it is gone.
	Force bool
}

// AdoptIdle is how long a host must have written nothing to the
// repository before Adopt takes its sources without Force.
const AdoptIdle = 24 * time.Hour

// ErrHostActive means Adopt was asked for a host that wrote to the
// repository recently. A host that is still alive and snapshots before
// it reads the adopt record numbers snapshots in the series the adopter
// continues, and no catalog can apply both.
var ErrHostActive = errors.New("the host wrote to the repository recently")

// refuseActiveHost fails unless the writer in slot last wrote a record or
// checkpoint more than AdoptIdle ago (the store's dates).
func (r *Repo) refuseActiveHost(ctx context.Context, host string, slot int64) error {
	if r.objects == nil {
		return nil
	}
	ws, err := r.db.Writers(ctx)
	if err != nil {
		return err
	}
	var id string
	for _, w := range ws {
		if w.Slot == slot {
			id = w.ID
		}
	}
	var last time.Time
	for _, prefix := range []string{"log/" + id + "/", "checkpoints/" + id + "/"} {
		err := r.objects.ListObjectsDated(ctx, prefix, func(_ string, _ int64, modified time.Time) error {
			if modified.After(last) {
				last = modified
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("adopt %s: %w", host, err)
		}
	}
	if ago := r.now().Sub(last); ago < AdoptIdle {
		return fmt.Errorf("adopt %s: %w (its last record is %s old): adopt only a host that is gone, since a live one and this installation would number snapshots in one series and every host would stop; --force once you are sure it is", host, ErrHostActive, ago.Round(time.Minute))
	}
	return nil
}

// OwnSlots are the writer slots (Snapshot.Writer) whose sources this
// installation snapshots: its own, 0, and those of the hosts it adopted.
func (r *Repo) OwnSlots(ctx context.Context) (map[int64]bool, error) {
	return r.db.OwnSlots(ctx)
}

// SnapshotNumber is a snapshot id's number within its host's numbering:
// the N of HOST:N (the id itself for this installation's snapshots).
func SnapshotNumber(id int64) int64 { return catalog.LocalN(id) }
