package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) gcCommand() *cobra.Command {
	var maxUnused string
	var grace time.Duration
	var dryRun, asJSON bool
	c := &cobra.Command{
		Use:   "gc",
		Short: "Reclaim the space of data no snapshot references",
		Long: `Delete packs that hold no referenced chunk, repack packs whose unreferenced
share exceeds --max-unused, and remove packs left by interrupted runs. A
new pack is written and made durable before the old one is deleted, so an
interrupted gc loses nothing. Snapshots on this host wait while gc runs,
and gc waits for running snapshots.

Before deleting anything gc verifies the catalog in full (SQLite's
integrity_check, which also compares every index with its table), reads
what is referenced without trusting any index, and reads the footer of
every pack it is about to delete or repack: if a footer holds a chunk that
a file still uses and the catalog keeps nowhere else, or the catalog is
damaged in any way, gc deletes nothing and says so. Run cairn check then.
In a repository with a log (format 2), a catalog file that fails
integrity_check is rebuilt from the log first (gc says so) and collected
on; gc also removes the log records and checkpoints that the newest two
checkpoints supersede.

Deletion takes two runs, because snapshots on other hosts sharing the
repository take no lock. A gc writes a plan (an object under gc/) that
condemns what it found dead; a later gc carries it out once the plan is
older than --grace, measured in the store's clock (file times, S3
Last-Modified): it drops and deletes what is still dead then, and keeps
what a snapshot recorded since uses again. Snapshots treat what a plan
condemns as absent. The old files of repacked packs wait one more grace
period. With --grace 0 the plan is carried out at once: right for one
host, not while another host may be snapshotting.

Packs no catalog row names that are younger than --grace are not
condemned: an interrupted snapshot left them, and the next snapshot takes
the chunks it needs from them instead of storing them again.

One gc at a time runs, across hosts: gc takes the lease object
locks/gc, renews it while it runs, and removes it when done. A second gc
exits with status 1 and names the holder. A gc that crashed on this host
is taken over at once; one that crashed on another host, once its lease
is ` + cairn.DefaultGCLeaseTTL.String() + ` old in store time.
`,
		Example: "  cairn gc\n  cairn gc --max-unused 25% --dry-run\n  cairn gc --grace 0",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			share, err := parseShare(maxUnused, "--max-unused")
			if err != nil {
				return err
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			if grace < 0 {
				return usageError{fmt.Errorf("--grace %v: want a duration of 0 or more", grace)}
			}
			return a.runGC(cmd, repo, cairn.GCOptions{MaxUnused: share, DryRun: dryRun, Grace: grace}, asJSON)
		},
	}
	c.Flags().StringVar(&maxUnused, "max-unused", percent(cairn.DefaultMaxUnused), "repack a pack when more than this share of it is unreferenced")
	c.Flags().DurationVar(&grace, "grace", cairn.DefaultGrace, "delete condemned packs only once their plan is this old (store time), and keep packs no snapshot recorded yet this long; 0: at once")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be reclaimed, change nothing")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON (docs/json.md)")
	return c
}

// gc runs a collection, with a status line on a terminal, and warns of
// the packs it left alone.
func (a *app) gc(cmd *cobra.Command, repo *cairn.Repo, opts cairn.GCOptions) (*cairn.GCReport, error) {
	p := newProgress(a.stderr)
	opts.Progress = p.bytes("gc: repack")
	rep, err := repo.GC(cmd.Context(), opts)
	p.clear()
	if errors.Is(err, cairn.ErrGCUnsafe) {
		if repo.HasLog() {
			return nil, fmt.Errorf("%w; nothing was deleted: run cairn check, and cairn repair catalog if it reports the catalog damaged", err)
		}
		return nil, fmt.Errorf("%w; nothing was deleted: run cairn check, and restore catalog.db from a copy if it reports the catalog damaged", err)
	}
	if err != nil {
		return nil, err
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(a.stderr, "warning: %s\n", displayText(p))
	}
	return rep, nil
}

func (a *app) runGC(cmd *cobra.Command, repo *cairn.Repo, opts cairn.GCOptions, asJSON bool) error {
	rep, err := a.gc(cmd, repo, opts)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, toGCJSON(rep, opts.DryRun))
	}
	verb := "freed"
	if opts.DryRun {
		verb = "would free"
	}
	freed := verb + " " + size(rep.BytesFreed)
	if rep.BytesFreed < 0 {
		// New packs written, the old ones condemned but not yet deleted.
		freed = "the store holds " + size(-rep.BytesFreed) + " more until the condemned packs go"
	}
	fmt.Fprintf(a.stdout, "gc: %s; %s deleted, %d repacked, %d small merged into %s, %s removed; %s\n",
		plural(rep.DeadChunks, "unreferenced chunk"), plural(rep.DeletedPacks, "pack"), rep.RepackedPacks,
		rep.MergedPacks, plural(rep.WrittenPacks, "new pack"), plural(rep.OrphanPacks, "orphan pack"), freed)
	if rep.WaitingPacks > 0 {
		fmt.Fprintf(a.stdout, "gc: %s (%s) condemned: a gc deletes or repacks them once their plan is older than %v in store time\n",
			plural(rep.WaitingPacks, "pack"), size(rep.WaitingBytes), opts.Grace)
	}
	if rep.Revived > 0 {
		fmt.Fprintf(a.stdout, "gc: %s condemned earlier kept: a snapshot recorded since uses them\n", plural(rep.Revived, "pack"))
	}
	if rep.YoungOrphans > 0 {
		keep := "kept"
		if opts.DryRun {
			keep = "would keep"
		}
		fmt.Fprintf(a.stdout, "gc: %s %s (%s) younger than %v, for an interrupted snapshot to resume from\n",
			keep, plural(rep.YoungOrphans, "unrecorded pack"), size(rep.YoungBytes), opts.Grace)
	}
	return nil
}

func parseShare(s, flag string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err == nil && pct {
		v /= 100
	}
	if err != nil || v <= 0 || v > 1 {
		return 0, usageError{fmt.Errorf("%s %q: want a share like 10%% or 0.1", flag, s)}
	}
	return v, nil
}

// percent renders a share for people: 0.1 is "10%".
func percent(share float64) string { return strconv.FormatFloat(100*share, 'f', -1, 64) + "%" }
