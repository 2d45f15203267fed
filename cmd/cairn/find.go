package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) findCommand() *cobra.Command {
	var snap, source string
	var asJSON bool
	c := &cobra.Command{
		Use:   "find PATTERN",
		Short: "Find which snapshots hold a path matching a glob",
		Long: `List every path matching PATTERN in every snapshot that holds it, newest
snapshot first (restic's find). A PATTERN without "/" matches a file or
directory name anywhere (*.json, jobs.json); with one, the whole path
relative to its source (cron/*.json). * and ? match any characters, "/"
included; [abc] one of a set. Quote the pattern so the shell leaves it.`,
		Example: `  cairn find '*.json'
  cairn find 'cron/*' --source ~/.agent
  cairn find jobs.json --snapshot latest --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var ref snapRef
			if snap != "" {
				var err error
				if ref, err = parseSnapshot(snap); err != nil {
					return err
				}
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			f := cairn.FindFilter{Source: source}
			if snap != "" {
				if f.Snapshot, err = ref.inSource(ctx, repo, source); err != nil {
					return err
				}
			}
			ms, err := repo.Find(ctx, args[0], f)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]matchJSON, 0, len(ms))
				for _, m := range ms {
					out = append(out, matchJSON{m.SnapshotID, jsonTime(m.Started), m.Source, m.Path, m.Type, m.Size, jsonTime(m.Mtime)})
				}
				return writeJSON(a.stdout, out)
			}
			if len(ms) == 0 {
				fmt.Fprintf(a.stderr, "cairn: no snapshot holds a path matching %s\n", displayText(args[0]))
				return nil
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "SNAPSHOT\tTIME\tSOURCE\tTYPE\tSIZE\tPATH")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", repo.SnapshotName(ctx, m.SnapshotID), a.tableTime(m.Started), displayPath(m.Source), m.Type, size(m.Size), displayPath(m.Path))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&snap, "snapshot", "", "only this snapshot: "+snapshotUsage)
	c.Flags().StringVar(&source, "source", "", "only snapshots of this directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return c
}
