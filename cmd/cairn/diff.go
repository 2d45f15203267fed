package main

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn/catalog"
)

func (a *app) diffCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "diff ID1 ID2",
		Short:   "Show paths added, removed and changed between two snapshots",
		Example: "  cairn diff 41 42\n  cairn diff 41 42 --json",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var ids [2]int64
			for i, s := range args {
				id, err := strconv.ParseInt(s, 10, 64)
				if err != nil || id <= 0 {
					return usageError{fmt.Errorf("%q is not a snapshot id", s)}
				}
				ids[i] = id
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			var trees [2]map[string]*catalog.Version
			for i, id := range ids {
				s, err := repo.DB.SnapshotByID(ctx, id)
				if err != nil {
					return err
				}
				vs, err := repo.DB.Tree(ctx, s, ".")
				if err != nil {
					return err
				}
				trees[i] = make(map[string]*catalog.Version, len(vs))
				for _, v := range vs {
					trees[i][v.Path] = v
				}
			}
			d := diffTrees(trees[0], trees[1])
			if asJSON {
				return writeJSON(a.stdout, d)
			}
			for _, p := range d.Added {
				fmt.Fprintf(a.stdout, "+ %s\n", displayPath(p))
			}
			for _, p := range d.Removed {
				fmt.Fprintf(a.stdout, "- %s\n", displayPath(p))
			}
			for _, p := range d.Changed {
				fmt.Fprintf(a.stdout, "M %s\n", displayPath(p))
			}
			fmt.Fprintf(a.stdout, "%d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changed))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print {added, removed, changed} as JSON")
	return c
}

type treeDiff struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

// diffTrees compares what people care about: type, bytes, mode, link
// target. A directory whose mtime moved because an entry changed is not
// reported itself; the entry is.
func diffTrees(a, b map[string]*catalog.Version) treeDiff {
	d := treeDiff{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for p, vb := range b {
		va, ok := a[p]
		switch {
		case !ok:
			d.Added = append(d.Added, p)
		case va.Type != vb.Type || va.Mode != vb.Mode || va.LinkTarget != vb.LinkTarget || !bytes.Equal(va.ContentHash, vb.ContentHash):
			d.Changed = append(d.Changed, p)
		}
	}
	for p := range a {
		if _, ok := b[p]; !ok {
			d.Removed = append(d.Removed, p)
		}
	}
	sortStrings(d.Added, d.Removed, d.Changed)
	return d
}
