package metalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cairn-dev/cairn/blobstore"
)

// Thresholds for a new checkpoint. A checkpoint saves a rebuild the replay
// of the records it covers, but costs a dump of the whole state, and
// loading it costs about what replaying records of its size does; so one is
// due when the records past the newest checkpoint are many, or their bytes
// are both at least BytesPerCheckpoint and at least ReplayFactor times the
// state's size (see Due). Replay applies about 1,000 small records in well
// under a second, and 4 MiB bounds what a rebuild downloads beyond the
// checkpoint of a small state. Variables so that tests can make
// checkpoints frequent; nothing else changes them.
var (
	RecordsPerCheckpoint int64 = 1000
	BytesPerCheckpoint   int64 = 4 << 20
	ReplayFactor         int64 = 2
)

// Due reports whether a checkpoint should be written now that the catalog
// has applied every record up to applied: when RecordsPerCheckpoint
// records are past the newest checkpoint, or when their stored bytes reach
// BytesPerCheckpoint and ReplayFactor times the size of the state. The
// state's size is estimated without reading it, as the larger of the
// newest checkpoint's size and the biggest record past it (a record's
// rows are mostly still there: a first snapshot's record is most of the
// state, and a checkpoint right after it would duplicate it and save no
// replay). So the checkpoint of a state S comes once records of 2S have
// accumulated: a rebuild replays at most about twice what the checkpoint
// holds, and dumping checkpoints costs at most half the bytes of records
// written (amortized).
func (l *Log) Due(ctx context.Context, applied int64) (bool, error) {
	cps, err := l.Checkpoints(ctx)
	if err != nil {
		return false, err
	}
	var base, state int64
	if len(cps) > 0 {
		base, state = cps[len(cps)-1].Seq, cps[len(cps)-1].Size
	}
	if applied-base >= RecordsPerCheckpoint {
		return true, nil
	}
	if applied <= base {
		return false, nil
	}
	recs, err := l.Records(ctx)
	if err != nil {
		return false, err
	}
	var bytes int64
	for _, e := range recs {
		if e.Seq > base && e.Seq <= applied {
			bytes += e.Size
			state = max(state, e.Size)
		}
	}
	return bytes >= BytesPerCheckpoint && bytes >= ReplayFactor*state, nil
}

// WriteCheckpoint stores the state dump writes (the catalog's DumpState,
// run in one read transaction, which returns the seq the state includes),
// compressed and sealed. A checkpoint at that seq that exists already is
// kept: it holds the same state.
func (l *Log) WriteCheckpoint(ctx context.Context, dump func(w io.Writer) (int64, error)) (int64, error) {
	var buf bytes.Buffer
	seq, err := dump(&buf)
	if err != nil {
		return 0, fmt.Errorf("write checkpoint: %w", err)
	}
	if seq < 1 {
		return 0, nil // an empty log needs no checkpoint
	}
	key := CheckpointKey(l.writer, seq)
	sealed := l.seal(key, buf.Bytes(), true)
	err = l.objs.PutObject(ctx, key, sealed)
	if errors.Is(err, blobstore.ErrExists) {
		if _, rerr := l.ReadCheckpoint(ctx, seq); rerr == nil {
			return seq, nil // the same state, written before
		}
		// A damaged checkpoint in the way: replace it.
		if err = l.objs.DeleteObject(ctx, key); err == nil {
			err = l.objs.PutObject(ctx, key, sealed)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("write checkpoint %d: %w", seq, err)
	}
	return seq, nil
}

// ReadCheckpoint returns the state stored in checkpoint seq.
func (l *Log) ReadCheckpoint(ctx context.Context, seq int64) ([]byte, error) {
	key := CheckpointKey(l.writer, seq)
	sealed, err := l.objs.GetObject(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %d: %w", seq, err)
	}
	state, err := l.open(key, sealed)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %d: %w", seq, err)
	}
	return state, nil
}

// Start is where a rebuild begins: the newest checkpoint that opens (seq 0
// and nil state when there is none) and, for each newer one that did not
// open, its error, for the caller to report. Replay continues from seq+1.
func (l *Log) Start(ctx context.Context) (seq int64, state []byte, skipped []error, err error) {
	cps, err := l.Checkpoints(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	for i := len(cps) - 1; i >= 0; i-- {
		state, err := l.ReadCheckpoint(ctx, cps[i].Seq)
		if err == nil {
			return cps[i].Seq, state, skipped, nil
		}
		if ctx.Err() != nil {
			return 0, nil, skipped, ctx.Err()
		}
		skipped = append(skipped, err)
	}
	return 0, nil, skipped, nil
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Records, Checkpoints int
	Bytes                int64
}

// Prune removes what the newest two checkpoints supersede: every older
// checkpoint and every record up to the older of the two. With fewer than
// two checkpoints it removes nothing, so that a record is only ever removed
// when two checkpoints cover it.
func (l *Log) Prune(ctx context.Context) (PruneReport, error) {
	var rep PruneReport
	cps, err := l.Checkpoints(ctx)
	if err != nil || len(cps) < 2 {
		return rep, err
	}
	return l.prune(ctx, cps, cps[len(cps)-2].Seq)
}

// PruneUpTo is Prune that removes no record after limit (what other
// writers' checkpoints do not cover yet) and no checkpoint from limit on.
func (l *Log) PruneUpTo(ctx context.Context, limit int64) (PruneReport, error) {
	var rep PruneReport
	cps, err := l.Checkpoints(ctx)
	if err != nil || len(cps) < 2 {
		return rep, err
	}
	keep := min(cps[len(cps)-2].Seq, limit)
	if keep <= 0 {
		return rep, nil
	}
	return l.prune(ctx, cps, keep)
}

// PruneThrough removes every record up to seq and every checkpoint before
// seq: a repair that has just written checkpoint seq from a sound catalog
// re-bases the log on it, damaged records and broken chains included.
func (l *Log) PruneThrough(ctx context.Context, seq int64) (PruneReport, error) {
	cps, err := l.Checkpoints(ctx)
	if err != nil {
		return PruneReport{}, err
	}
	if len(cps) == 0 || cps[len(cps)-1].Seq != seq {
		return PruneReport{}, fmt.Errorf("prune log through %d: no checkpoint %d is the newest", seq, seq)
	}
	return l.prune(ctx, cps, seq)
}

// prune removes the records up to keep and the checkpoints before keep.
func (l *Log) prune(ctx context.Context, cps []Entry, keep int64) (PruneReport, error) {
	var rep PruneReport
	recs, err := l.Records(ctx)
	if err != nil {
		return rep, err
	}
	for _, e := range recs {
		if e.Seq > keep {
			break
		}
		if err := l.objs.DeleteObject(ctx, RecordKey(l.writer, e.Seq)); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return rep, fmt.Errorf("prune log: %w", err)
		}
		rep.Records++
		rep.Bytes += e.Size
	}
	for _, e := range cps {
		if e.Seq >= keep {
			break
		}
		if err := l.objs.DeleteObject(ctx, CheckpointKey(l.writer, e.Seq)); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return rep, fmt.Errorf("prune log: %w", err)
		}
		rep.Checkpoints++
		rep.Bytes += e.Size
	}
	return rep, nil
}
