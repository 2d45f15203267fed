package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) statsCommand() *cobra.Command {
	var asJSON, perSnapshot bool
	c := &cobra.Command{
		Use:   "stats",
		Short: "Show the repository's size, deduplication ratio, and sizes per source",
		Long: `Show what the repository takes on disk, the unique data it holds, what its
snapshots hold in all (as full copies they would take that much), and the
ratio of the two: deduplication and compression together. Then the same per
source, and with --snapshots per snapshot. The numbers are the catalog's;
nothing is read from the packs (cairn check verifies them).`,
		Example: "  cairn stats\n  cairn stats --snapshots --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			st, err := repo.Stats(ctx)
			if err != nil {
				return err
			}
			var snaps []cairn.Snapshot
			if perSnapshot || asJSON {
				if snaps, err = repo.Snapshots(ctx, cairn.SnapshotFilter{}); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(a.stdout, toStatsJSON(st, snaps))
			}
			fmt.Fprintf(a.stdout, "%s, %s: %s on disk\n", plural(int(st.Snapshots), "snapshot"), plural(int(st.Packs), "pack"), size(st.DiskBytes))
			fmt.Fprintf(a.stdout, "unique data %s; the snapshots hold %s in all; deduplication ratio %s\n",
				size(st.UniqueBytes), size(st.SnapshotBytes), ratio(st.DedupRatio()))
			if len(st.Sources) > 0 {
				fmt.Fprintln(a.stdout)
				tw := newTable(a.stdout)
				fmt.Fprintln(tw, "SOURCE\tSNAPSHOTS\tVERSIONS\tLATEST\tUNIQUE\tALL SNAPSHOTS")
				for _, s := range st.Sources {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", displayPath(s.Source), s.Snapshots, s.Versions, size(s.LatestBytes), size(s.UniqueBytes), size(s.SnapshotBytes))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if perSnapshot && len(snaps) > 0 {
				fmt.Fprintln(a.stdout)
				tw := newTable(a.stdout)
				fmt.Fprintln(tw, "ID\tSOURCE\tFILES\tSIZE\tADDED")
				for _, s := range snaps {
					fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", s.ID, displayPath(s.Source), s.FileCount, size(s.TotalBytes), size(s.AddedBytes))
				}
				return tw.Flush()
			}
			return nil
		},
	}
	c.Flags().BoolVar(&perSnapshot, "snapshots", false, "also list each snapshot's size and what it added")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (with every snapshot)")
	return c
}

func ratio(r float64) string {
	if r == 0 {
		return "-"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "x"
}

func toStatsJSON(st *cairn.Stats, snaps []cairn.Snapshot) statsJSON {
	srcs := make([]statsSourceJSON, 0, len(st.Sources))
	for _, s := range st.Sources {
		srcs = append(srcs, statsSourceJSON{s.Source, s.Snapshots, s.Versions, s.LatestBytes, s.UniqueBytes, s.SnapshotBytes})
	}
	ss := make([]statsSnapshotJSON, 0, len(snaps))
	for _, s := range snaps {
		ss = append(ss, statsSnapshotJSON{s.ID, s.Source, s.FileCount, s.TotalBytes, s.AddedBytes})
	}
	return statsJSON{st.Snapshots, st.Packs, st.DiskBytes, st.UniqueBytes, st.SnapshotBytes, st.DedupRatio(), srcs, ss}
}
