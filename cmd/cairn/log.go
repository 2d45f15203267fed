package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) logCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "log PATH",
		Short:   "Show every version of one file, newest first",
		Example: "  cairn log ~/.agent/cron/jobs.json\n  cairn log ./config.yaml --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			history, err := repo.History(ctx, args[0])
			if err != nil {
				return err
			}
			out := []versionJSON{}
			for _, h := range history.Versions {
				out = append(out, versionJSON{toFileJSON(0, history.Source, h.Version), h.FirstSnapshot, h.LastSnapshot,
					jsonTime(h.FirstSeen), jsonTime(h.LastSeen)})
			}
			if len(out) == 0 {
				return fmt.Errorf("%s is in no snapshot of %s", displayPath(args[0]), displayPath(history.Source))
			}
			if asJSON {
				return writeJSON(a.stdout, out)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "SNAPSHOTS\tFIRST SEEN\tTYPE\tSIZE\tHASH\tJSON")
			for _, v := range out {
				// Another host's snapshots read HOST:N (one source is one
				// host's, so a span is HOST:N-M).
				span := repo.SnapshotName(ctx, v.FirstSnapshotID)
				if v.LastSnapshotID != v.FirstSnapshotID {
					span += fmt.Sprintf("-%d", cairn.SnapshotNumber(v.LastSnapshotID))
				}
				valid := "-"
				if v.JSONValid != nil {
					valid = map[bool]string{true: "valid", false: "INVALID"}[*v.JSONValid]
				}
				hash := v.Hash
				if len(hash) > 12 {
					hash = hash[:12]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", span, a.tableTime(time.Time(v.FirstSeen)), v.Type, size(v.Size), hash, valid)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array, one object per version")
	return c
}
