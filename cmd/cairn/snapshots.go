package main

import (
	"errors"
	"fmt"
	"slices"
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
given, --latest N the newest N of each source. A repository shared by
several hosts (installations) lists every host's snapshots, with a HOST
column and other hosts' snapshots named HOST:N (what --snapshot takes);
--host H keeps one host's (a host name or writer id; cairn hosts lists
them).`,
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
			ctx := cmd.Context()
			snaps, err := repo.Snapshots(ctx, f)
			if err != nil {
				return err
			}
			hosts, err := repo.Hosts(ctx)
			if err != nil {
				return err
			}
			if host != "" {
				slot, err := repo.HostSlot(ctx, host)
				if errors.Is(err, cairn.ErrUnknownHost) {
					snaps = nil // as restic: a host with no snapshots lists none
				} else if err != nil {
					return err
				}
				snaps = slices.DeleteFunc(snaps, func(s cairn.Snapshot) bool { return s.Writer != slot })
			}
			hostOf := func(s cairn.Snapshot) string {
				if s.Writer == 0 {
					return hosts[0].Name // this installation's (Hosts lists it first)
				}
				name := repo.SnapshotName(ctx, s.ID)
				return name[:max(0, strings.LastIndex(name, ":"))] // a host name may hold a colon
			}
			if asJSON {
				out := make([]snapshotJSON, 0, len(snaps))
				for _, s := range snaps {
					j := toSnapshotJSON(s)
					if s.Writer != 0 {
						j.Host, j.Ref = hostOf(s), repo.SnapshotName(ctx, s.ID)
					}
					out = append(out, j)
				}
				return writeJSON(a.stdout, out)
			}
			// One host (the usual case) shows what it always showed; with
			// several, a HOST column.
			several := len(hosts) > 1
			tw := newTable(a.stdout)
			if several {
				fmt.Fprintln(tw, "ID\tHOST\tTIME\tSOURCE\tFILES\tSIZE\tADDED\tTAGS\tLABEL")
			} else {
				fmt.Fprintln(tw, "ID\tTIME\tSOURCE\tFILES\tSIZE\tADDED\tTAGS\tLABEL")
			}
			for _, s := range snaps {
				id := repo.SnapshotName(ctx, s.ID)
				if several {
					fmt.Fprintf(tw, "%s\t%s\t", id, displayText(hostOf(s)))
				} else {
					fmt.Fprintf(tw, "%s\t", id)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", a.tableTime(s.Started), displayPath(s.Source), s.FileCount,
					size(s.TotalBytes), size(s.AddedBytes), displayText(strings.Join(s.Tags, ",")), displayText(s.Label))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&f.Source, "source", "", "only snapshots of this directory")
	c.Flags().StringArrayVar(&f.Tags, "tag", nil, "only snapshots with this tag (repeatable: every tag given)")
	c.Flags().IntVar(&f.Latest, "latest", 0, "only the newest N snapshots of each source")
	c.Flags().StringVar(&host, "host", "", "only snapshots of this host (a host name or writer id; default: every host's)")
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
