package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) snapshotsCommand() *cobra.Command {
	var source string
	var asJSON bool
	c := &cobra.Command{
		Use:     "snapshots",
		Short:   "List snapshots",
		Example: "  cairn snapshots\n  cairn snapshots --source ~/.agent --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			snaps, err := repo.Snapshots(cmd.Context(), cairn.SnapshotFilter{Source: source})
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]snapshotJSON, 0, len(snaps))
				for _, s := range snaps {
					out = append(out, toSnapshotJSON(s))
				}
				return writeJSON(a.stdout, out)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "ID\tTIME\tSOURCE\tFILES\tSIZE\tADDED\tLABEL")
			for _, s := range snaps {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, rfc3339(s.Started), displayPath(s.Source), s.FileCount,
					size(s.TotalBytes), size(s.AddedBytes), s.Label)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&source, "source", "", "only snapshots of this directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return c
}

type snapshotJSON struct {
	ID         int64    `json:"id"`
	Source     string   `json:"source"`
	StartedAt  string   `json:"started_at"`
	FinishedAt string   `json:"finished_at"`
	Label      string   `json:"label"`
	Tags       []string `json:"tags"`
	FileCount  int64    `json:"file_count"`
	TotalBytes int64    `json:"total_bytes"`
	AddedBytes int64    `json:"added_bytes"`
}

func toSnapshotJSON(s cairn.Snapshot) snapshotJSON {
	tags := s.Tags
	if tags == nil {
		tags = []string{}
	}
	return snapshotJSON{s.ID, s.Source, rfc3339(s.Started), rfc3339(s.Finished), s.Label, tags, s.FileCount, s.TotalBytes, s.AddedBytes}
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
