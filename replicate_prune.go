package cairn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/metalog"
)

// ErrReplicaAhead refuses to replicate to a target that holds log records
// or checkpoints this repository never had: it was written to since (a
// replica recovered on another machine and snapshotted into, say), and
// what it holds would be lost or contradicted by this repository's copy.
var ErrReplicaAhead = errors.New("the target holds log records this repository does not")

// A replica follows gc. gc deletes packs here (empty ones, repacked and
// merged ones, orphans) and prunes the log (records and checkpoints the
// newest two checkpoints supersede); a replication removes the same from
// the target, once the target holds every record this repository holds,
// so that the target's own log then says what this one says and names
// none of what goes. What goes is keyed on what this repository no
// longer holds, never on how gc decided it (its grace periods and plans
// are its own):
//
//   - a pack on the target that is neither in this store nor named by a
//     row of this catalog (a pack lost here to damage keeps its row,
//     marked missing, so the replica's copy stays, perhaps the only one);
//   - a record log/W/N that this repository no longer holds while its
//     newest checkpoint of writer W covers N (N <= its seq); one it lacks
//     without such a checkpoint is a gap here (damage), kept there;
//   - a checkpoint of W older than this repository's newest one of W;
//   - a gc plan (gc/...) that is no longer here.
//
// A record or checkpoint on the target beyond this repository's newest of
// its writer, or of a writer this repository does not know, means the
// target was written to: the replication is refused (ErrReplicaAhead)
// before anything is copied or removed.

// replicaPrune is what a replication removes from its target.
type replicaPrune struct {
	packs   []string // pack names
	objects []string // object keys, records and checkpoints
	bytes   int64
}

// logKey parses log/<writer>/<seq> and checkpoints/<writer>/<seq>.
func logKey(key string) (kind, writer string, seq int64, ok bool) {
	kind, rest, ok := strings.Cut(key, "/")
	if !ok || (kind != "log" && kind != "checkpoints") {
		return "", "", 0, false
	}
	writer, num, ok := strings.Cut(rest, "/")
	if !ok || len(num) != 20 || writer == "" {
		return "", "", 0, false
	}
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq < 0 {
		return "", "", 0, false
	}
	return kind, writer, seq, true
}

// logSpan is what one writer's log holds here.
type logSpan struct {
	lastRecord, lastCheckpoint int64 // 0: none
}

// planReplicaPrune decides what to remove from a target holding have
// (objects) and havePacks, given what this repository holds (objs, packs)
// and the pack names its catalog knows. It fails with ErrReplicaAhead if
// the target holds records or checkpoints this repository never had.
func planReplicaPrune(have, havePacks, objs, packs map[string]int64, cataloged map[string]bool) (*replicaPrune, error) {
	spans := map[string]*logSpan{}
	for key := range objs {
		kind, w, seq, ok := logKey(key)
		if !ok {
			continue
		}
		s := spans[w]
		if s == nil {
			s = &logSpan{}
			spans[w] = s
		}
		if kind == "log" {
			s.lastRecord = max(s.lastRecord, seq)
		} else {
			s.lastCheckpoint = max(s.lastCheckpoint, seq)
		}
	}
	p := &replicaPrune{}
	var ahead []string
	for key, size := range have {
		if _, here := objs[key]; here {
			continue
		}
		kind, w, seq, ok := logKey(key)
		if !ok {
			if strings.HasPrefix(key, "gc/") {
				p.objects = append(p.objects, key)
				p.bytes += size
			}
			continue // cairn.repo, keys/, what a newer cairn writes: left
		}
		s := spans[w]
		switch {
		case s == nil || seq > max(s.lastRecord, s.lastCheckpoint):
			ahead = append(ahead, key)
		case kind == "log" && seq <= s.lastCheckpoint, kind == "checkpoints" && seq < s.lastCheckpoint:
			p.objects = append(p.objects, key)
			p.bytes += size
		}
	}
	if len(ahead) > 0 {
		sort.Strings(ahead)
		more := ""
		if len(ahead) > 1 {
			more = fmt.Sprintf(" and %d more", len(ahead)-1)
		}
		return nil, fmt.Errorf("%w (%s%s): it was written to since it was last replicated", ErrReplicaAhead, ahead[0], more)
	}
	for name, size := range havePacks {
		if _, here := packs[name]; !here && !cataloged[name] {
			p.packs = append(p.packs, name)
			p.bytes += size
		}
	}
	sort.Strings(p.packs)
	// Checkpoints before records: a removal cut short leaves a newer
	// checkpoint, never records without the checkpoint that covers them.
	sort.Slice(p.objects, func(i, j int) bool { return p.objects[i] < p.objects[j] })
	return p, nil
}

// pruneReplica removes what p names from the target.
func pruneReplica(ctx context.Context, tgt replicaTarget, p *replicaPrune, rep *ReplicateReport) error {
	for _, key := range p.objects {
		if err := tgt.objs.DeleteObject(ctx, key); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("remove %s from the replica: %w", key, err)
		}
		rep.RemovedObjects++
	}
	for _, name := range p.packs {
		if err := tgt.store.Delete(ctx, name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("remove pack %s from the replica: %w", name, err)
		}
		rep.RemovedPacks++
	}
	rep.RemovedBytes = p.bytes
	return nil
}

// checkDiverged refuses a target whose log holds, under a key this
// repository also holds, a record of its own: a replica recovered on
// another machine continues the same writer's log from its last seq, so
// its records collide with the ones written here since. Records are
// sealed with a random nonce, so a record and its copy are equal byte for
// byte and two records of one seq never are. Compared: every record held
// by both with another size, and each writer's newest record the target
// holds that this repository holds too (one GET on each side, of a small
// object as a rule). A differing record that authenticates is the
// target's own (ErrReplicaAhead); one that does not was damaged (an upload
// cut short by an older cairn) and is marked for replacement, as a pack of
// the wrong size is.
func (r *Repo) checkDiverged(ctx context.Context, tgt replicaTarget, have, objs map[string]int64) error {
	newest := map[string]int64{} // writer -> the target's newest record held here too
	var suspects []string
	for key, size := range have {
		kind, w, seq, ok := logKey(key)
		if !ok || kind != "log" {
			continue
		}
		here, ok := objs[key]
		if !ok {
			continue
		}
		if here != size {
			suspects = append(suspects, key)
		} else if seq > newest[w] {
			newest[w] = seq
		}
	}
	for w, seq := range newest {
		key := metalog.RecordKey(w, seq)
		a, err := tgt.objs.GetObject(ctx, key)
		if err != nil {
			return fmt.Errorf("read %s on the target: %w", key, err)
		}
		b, err := r.objects.GetObject(ctx, key)
		if errors.Is(err, blobstore.ErrNotFound) {
			continue // pruned here since the listing
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			suspects = append(suspects, key)
		}
	}
	sort.Strings(suspects)
	for _, key := range suspects {
		_, w, seq, _ := logKey(key)
		l, err := metalog.New(tgt.objs, r.keys, r.id, w)
		if err != nil {
			return err
		}
		if _, err := l.Read(ctx, seq); err == nil {
			return fmt.Errorf("%w (%s differs from this repository's): it was written to since it was last replicated", ErrReplicaAhead, key)
		}
		have[key] = -1 // damaged there: copied again
	}
	return nil
}
