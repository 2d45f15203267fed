package metalog

import (
	"context"
	"fmt"
)

// Problem is one defect of the log that Verify found, in a sentence.
type Problem string

// Verify checks the writer's chain against a catalog: every record and
// checkpoint authenticates, no record is missing between the oldest
// checkpoint kept (or seq 1) and the newest record, and the log ends at the
// catalog's applied seq. appliedSeq is asked before the records are listed
// and again after: a command running beside the check may append and apply
// records meanwhile, so the log may end anywhere between the two answers.
// It reads every record.
func (l *Log) Verify(ctx context.Context, appliedSeq func(context.Context) (int64, error)) ([]Problem, error) {
	appliedBefore, err := appliedSeq(ctx)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	add := func(format string, args ...any) { problems = append(problems, Problem(fmt.Sprintf(format, args...))) }
	cps, err := l.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	var covered int64 // replay can start after the oldest checkpoint that opens
	good := 0
	for _, e := range cps {
		if _, err := l.ReadCheckpoint(ctx, e.Seq); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			add("checkpoint %d of writer %s: %v", e.Seq, l.writer, err)
			continue
		}
		if good == 0 {
			covered = e.Seq
		}
		good++
	}
	recs, err := l.Records(ctx)
	if err != nil {
		return nil, err
	}
	next := covered + 1
	for _, e := range recs {
		if e.Seq > next {
			add("log of writer %s: %s missing", l.writer, span(next, e.Seq-1))
		}
		if _, err := l.readStored(ctx, e.Seq); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			add("log record %d of writer %s: %v", e.Seq, l.writer, err)
		}
		// Records a checkpoint covers (not yet pruned) only authenticate.
		next = max(next, e.Seq+1)
	}
	last := next - 1
	appliedAfter, err := appliedSeq(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case last < appliedBefore:
		add("log of writer %s: %s applied by the catalog but missing from the log", l.writer, span(last+1, appliedBefore))
	case last > appliedAfter:
		add("log of writer %s: %s not applied by the catalog", l.writer, span(appliedAfter+1, last))
	}
	return problems, nil
}

// readStored opens record seq, known to exist.
func (l *Log) readStored(ctx context.Context, seq int64) ([]byte, error) {
	key := RecordKey(l.writer, seq)
	sealed, err := l.objs.GetObject(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.open(key, sealed)
}

func span(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record %d", from)
	}
	return fmt.Sprintf("records %d-%d", from, to)
}
