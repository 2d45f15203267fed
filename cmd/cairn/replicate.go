package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) replicateCommand() *cobra.Command {
	var to string
	c := &cobra.Command{
		Use:   "replicate --to TARGET",
		Short: "Copy the repository to an off-site replica (s3://bucket/prefix or a directory), incrementally",
		Long: `Copy everything of the repository but its local directory (the packs,
the log, its checkpoints, the key files, cairn.repo) to TARGET, an
s3://bucket/prefix (--s3-endpoint names its server) or a directory. Only
what TARGET lacks is copied, packs before the log records that name
them, so a replicate that is interrupted leaves a consistent replica and
the next one finishes it. TARGET must be empty or a replica of this same
repository. A replica is opened, on any machine, with the repository's
password: cairn recover --repo TARGET makes its catalog. A repository
whose only key is local/key must get a password first (cairn key add).

What gc removed here (packs no snapshot needs, log records and
checkpoints superseded by newer checkpoints) is removed from TARGET too,
once everything else is copied: only what this repository no longer holds
and its catalog no longer names, so a pack lost here to damage keeps its
copy there. A TARGET holding log records this repository never had (it
was recovered and written to) is refused, and nothing is copied or
removed. Key files removed here stay on TARGET.`,
		Example: `  cairn replicate --to s3://backups/laptop --s3-endpoint https://s3.example.com
  cairn replicate --to /mnt/usb/cairn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError{errors.New("say where to: cairn replicate --to s3://bucket/prefix (or a directory)")}
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			rep, err := repo.Replicate(cmd.Context(), to, cairn.ReplicateOptions{S3Endpoint: a.s3Endpoint})
			if err != nil {
				return err
			}
			a.printReplicated(rep)
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "the replica: s3://bucket/prefix or a directory")
	return c
}

// printReplicated says what a replication copied (replicate, and snap or
// watch with a source's replica).
func (a *app) printReplicated(rep *cairn.ReplicateReport) {
	fmt.Fprintf(a.stdout, "replicated to %s: copied %s (%s) and %s (%s); %s and %s were there already\n",
		displayPath(rep.Target), plural(rep.Packs, "pack"), size(rep.PackBytes),
		plural(rep.Objects, "object"), size(rep.ObjectBytes),
		plural(rep.PresentPacks, "pack"), plural(rep.PresentObjects, "object"))
	for _, key := range rep.Replaced {
		fmt.Fprintf(a.stdout, "replaced %s: the target's copy had another size (an upload cut short)\n", key)
	}
	if rep.RemovedPacks+rep.RemovedObjects > 0 {
		fmt.Fprintf(a.stdout, "removed from %s what gc removed here: %s and %s (%s)\n", displayPath(rep.Target),
			plural(rep.RemovedPacks, "pack"), plural(rep.RemovedObjects, "object"), size(rep.RemovedBytes))
	}
}

// errReplicaBehind marks snapshots that were committed while the
// replication after them failed: exit code 3, as for an incomplete
// snapshot, so that a cron job notices.
var errReplicaBehind = errors.New("replica behind")

// replicateAfter runs the replications the snapped sources' settings ask
// for (cairn policy set DIR --replicate) and returns err, the snapshots'
// own outcome, unless that is nil and a replication failed: each failure
// is one warning line naming the target and what to run, and the exit
// code is 3. quiet drops the line of a replication that worked.
func (a *app) replicateAfter(cmd *cobra.Command, repo *cairn.Repo, sources []string, quiet bool, err error) error {
	if len(sources) == 0 || cmd.Context().Err() != nil {
		return err
	}
	failed := false
	for _, r := range repo.ReplicateAfter(cmd.Context(), sources) {
		if r.Err != nil {
			failed = true
			a.warnReplica(r)
			continue
		}
		if !quiet {
			a.printReplicated(r.Report)
		}
	}
	if failed && err == nil {
		return errReplicaBehind
	}
	return err
}

// warnReplica is the line a failed replication after a snapshot prints.
func (a *app) warnReplica(r cairn.ReplicaResult) {
	if r.Replica.Target == "" {
		fmt.Fprintf(a.stderr, "cairn: warning: %s\n", oneLine(r.Err))
		return
	}
	if errors.Is(r.Err, cairn.ErrReplicaAhead) {
		// Nothing to catch up: the replica went its own way.
		fmt.Fprintf(a.stderr, "cairn: warning: the snapshot is committed, but it is not replicated: %s; or stop with cairn policy set DIR --replicate ''\n",
			oneLine(r.Err))
		return
	}
	fix := "cairn replicate --to " + quoteAll([]string{r.Replica.Target})[0]
	if r.Replica.S3Endpoint != "" {
		fix += " --s3-endpoint " + r.Replica.S3Endpoint
	}
	fmt.Fprintf(a.stderr, "cairn: warning: the snapshot is committed, but the replica %s is behind: %s; once it is reachable, run %s (or the next snap does)\n",
		displayPath(r.Replica.Target), oneLine(r.Err), fix)
}
