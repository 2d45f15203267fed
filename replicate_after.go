package cairn

import (
	"context"
	"fmt"
	"os"
)

// A source's replica (Source.Replica, cairn policy set DIR --replicate)
// makes every snapshot of it end with a replication: ReplicateAfter.
// The snapshot is committed first and stays committed whatever the
// replication does; a replication that fails is reported (the CLI prints
// one line naming the target and exits 3) and the next one, after the
// next snapshot or by cairn replicate, copies what this one missed.

// ReplicaResult is one replication ReplicateAfter ran.
type ReplicaResult struct {
	Replica Replica
	Report  *ReplicateReport // nil when Err is set before anything was copied
	Err     error
}

// ReplicateAfter replicates the repository to the replicas that the
// settings of sources name, each target once, in the order the sources
// come. A replica that is the repository itself is skipped: a replica
// recovered on another machine keeps the settings of the repository it
// copies, which name it.
func (r *Repo) ReplicateAfter(ctx context.Context, sources []string) []ReplicaResult {
	var out []ReplicaResult
	seen := map[Replica]bool{}
	for _, dir := range sources {
		src, err := r.Settings(ctx, dir)
		if err != nil {
			out = append(out, ReplicaResult{Err: fmt.Errorf("read the replica of %s: %w", dir, err)})
			continue
		}
		rp := src.Replica
		if rp.Target == "" || seen[rp] {
			continue
		}
		seen[rp] = true
		if _, self, err := r.resolveTarget(rp.Target, rp.S3Endpoint); err == nil && self {
			continue
		}
		rep, err := r.Replicate(ctx, rp.Target, ReplicateOptions{S3Endpoint: rp.S3Endpoint})
		out = append(out, ReplicaResult{Replica: rp, Report: rep, Err: err})
	}
	return out
}

// checkReplica makes a replica setting what is stored: "" stays none, a
// directory becomes absolute, an s3:// address keeps the endpoint it was
// given (else $CAIRN_S3_ENDPOINT now, so that a cron job without it still
// reaches the server). It refuses what every replication would refuse:
// the repository itself, an address that does not parse, a repository
// that only local/key opens.
func (r *Repo) checkReplica(ctx context.Context, rp Replica) (Replica, error) {
	if rp.Target == "" {
		return Replica{}, nil
	}
	if IsRemote(rp.Target) {
		if rp.S3Endpoint == "" {
			rp.S3Endpoint = os.Getenv("CAIRN_S3_ENDPOINT")
		}
	} else {
		rp.S3Endpoint = ""
	}
	name, self, err := r.resolveTarget(rp.Target, rp.S3Endpoint)
	if err != nil {
		return rp, fmt.Errorf("replica %s: %w", rp.Target, err)
	}
	if self {
		return rp, fmt.Errorf("replica %s: %w", name, errSelfTarget)
	}
	rp.Target = name
	if r.objects == nil {
		return rp, fmt.Errorf("%s: %w: cairn upgrade first", r.Dir, ErrNoLog)
	}
	files, _, err := listKeyFiles(ctx, r.objects)
	if err != nil {
		return rp, err
	}
	if len(files) == 0 {
		return rp, fmt.Errorf("replica %s: %w", name, ErrOnlyLocalKey)
	}
	return rp, nil
}
