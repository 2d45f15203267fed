package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) snapshotsCommand() *cobra.Command {
	var f cairn.SnapshotFilter
	var host string
	var asJSON bool
	c := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots",
		Long: `List snapshots, oldest first. Times are local with their offset (--utc for
UTC); FILES counts regular files. --tag keeps snapshots with every tag
given, --latest N the newest N of each source. --host is accepted for
restic's habit: every snapshot in a repository is this host's for now
(stores shared by several hosts come with remote repositories), so --host
names this host or lists nothing.`,
		Example: "  cairn snapshots\n  cairn snapshots --source ~/.agent --latest 5 --json\n  cairn snapshots --tag manual",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			if f.Latest < 0 {
				return usageError{fmt.Errorf("--latest %d: want a count of 1 or more", f.Latest)}
			}
			snaps, err := repo.Snapshots(cmd.Context(), f)
			if err != nil {
				return err
			}
			if !thisHost(host) {
				snaps = nil
			}
			if asJSON {
				out := make([]snapshotJSON, 0, len(snaps))
				for _, s := range snaps {
					out = append(out, toSnapshotJSON(s))
				}
				return writeJSON(a.stdout, out)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "ID\tTIME\tSOURCE\tFILES\tSIZE\tADDED\tTAGS\tLABEL")
			for _, s := range snaps {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, a.tableTime(s.Started), displayPath(s.Source), s.FileCount,
					size(s.TotalBytes), size(s.AddedBytes), displayText(strings.Join(s.Tags, ",")), displayText(s.Label))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&f.Source, "source", "", "only snapshots of this directory")
	c.Flags().StringArrayVar(&f.Tags, "tag", nil, "only snapshots with this tag (repeatable: every tag given)")
	c.Flags().IntVar(&f.Latest, "latest", 0, "only the newest N snapshots of each source")
	c.Flags().StringVar(&host, "host", "", "only snapshots of this host (every snapshot is this host's for now)")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (docs/json.md)")
	return c
}

// defaultPath is the path used when a command is given none: the only
// source, if there is exactly one.
func (a *app) defaultPath(cmd *cobra.Command, args []string) (string, error) {
	if len(args) > 0 {
		return args[0], nil
	}
	sources, err := a.repo.Sources(cmd.Context())
	if err != nil {
		return "", err
	}
	switch len(sources) {
	case 0:
		return "", fmt.Errorf("the repository has no snapshots yet (cairn snap DIR takes one)")
	case 1:
		return sources[0].Path, nil
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = displayPath(s.Path)
	}
	return "", usageError{fmt.Errorf("the repository has several sources (%s); name a path", strings.Join(names, ", "))}
}
