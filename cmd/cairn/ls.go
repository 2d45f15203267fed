package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) lsCommand() *cobra.Command {
	var snap string
	var asJSON bool
	c := &cobra.Command{
		Use:     "ls [PATH]",
		Short:   "List the files of a snapshot",
		Long:    "List PATH (a file or directory inside a snapshotted source, default the only source) and everything below it, as recorded in a snapshot (default: the newest that has PATH).",
		Example: "  cairn ls ~/.agent\n  cairn ls --snapshot 41 ~/.agent/cron --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseSnapshot(snap)
			if err != nil {
				return err
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			p, err := a.defaultPath(cmd, args)
			if err != nil {
				return err
			}
			req, _, err := repo.Resolve(cmd.Context(), p, id, false)
			if err != nil {
				return err
			}
			vs, err := repo.DB.Tree(cmd.Context(), req.Snapshot, req.Path)
			if err != nil {
				return err
			}
			if len(vs) == 0 {
				return fmt.Errorf("%s is not in snapshot %d", displayPath(p), req.Snapshot.ID)
			}
			if asJSON {
				out := []fileJSON{}
				for _, v := range vs {
					out = append(out, toFileJSON(req.Snapshot.ID, req.Snapshot.Source, v))
				}
				return writeJSON(a.stdout, out)
			}
			tw := newTable(a.stdout)
			for _, v := range vs {
				name := displayPath(v.Path)
				if v.LinkTarget != "" {
					name += " -> " + displayPath(v.LinkTarget)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", v.Type, octal(v.Mode), v.Size,
					time.Unix(0, v.MtimeNs).UTC().Format(time.RFC3339), name)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&snap, "snapshot", "", "snapshot id or \"latest\"")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return c
}
