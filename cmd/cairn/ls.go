package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) lsCommand() *cobra.Command {
	var snap string
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls [PATH]",
		Short: "List the files of a snapshot",
		Long: `List PATH (a file or directory inside a snapshotted source, default the only
source) and everything below it, as recorded in a snapshot (default: the
newest that has PATH). The first line names the snapshot listed; times are
local with their offset (--utc for UTC), sizes are for people (--json has
bytes).`,
		Example: "  cairn ls ~/.agent\n  cairn ls --snapshot 41 ~/.agent/cron --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseSnapshot(snap)
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
			id, err := ref.forPath(cmd.Context(), repo, p)
			if err != nil {
				return err
			}
			req, _, err := repo.Resolve(cmd.Context(), p, id, false)
			if err != nil {
				return err
			}
			vs, err := listTree(cmd.Context(), repo, req)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s is not in snapshot %d", displayPath(p), req.Snapshot.ID)
			}
			if err != nil {
				return err
			}
			if asJSON {
				out := []fileJSON{}
				for _, v := range vs {
					out = append(out, toFileJSON(req.Snapshot.ID, req.Snapshot.Source, v))
				}
				return writeJSON(a.stdout, out)
			}
			fmt.Fprintf(a.stdout, "snapshot %s of %s\n", repo.SnapshotName(cmd.Context(), req.Snapshot.ID), displayPath(req.Snapshot.Source))
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "TYPE\tMODE\tSIZE\tMTIME\tPATH")
			for _, v := range vs {
				name := displayPath(v.Path)
				if v.LinkTarget != "" {
					name += " -> " + displayPath(v.LinkTarget)
				}
				sz := size(v.Size)
				if v.Type == cairn.TypeDir {
					sz = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Type, octal(v.Mode), sz, a.tableTime(time.Unix(0, v.MtimeNs)), name)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&snap, "snapshot", "", snapshotUsage)
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (docs/json.md)")
	return c
}

// listTree reads the request's path and everything below it through the
// snapshot's view, sorted by path as the catalog sorts ("a.txt" before
// "a/b", byte order), without following symbolic links.
func listTree(ctx context.Context, repo *cairn.Repo, req cairn.Request) ([]*cairn.Version, error) {
	view, err := repo.SnapshotFS(ctx, req.Snapshot.ID)
	if err != nil {
		return nil, err
	}
	top, err := view.(fs.ReadLinkFS).Lstat(req.Path)
	if err != nil {
		return nil, err
	}
	vs := []*cairn.Version{top.Sys().(*cairn.Version)}
	if top.IsDir() {
		err = fs.WalkDir(view, req.Path, func(name string, d fs.DirEntry, err error) error {
			if err != nil || name == req.Path {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			vs = append(vs, info.Sys().(*cairn.Version))
			return nil
		})
	}
	slices.SortFunc(vs, func(a, b *cairn.Version) int { return strings.Compare(a.Path, b.Path) })
	return vs, err
}
