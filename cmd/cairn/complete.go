package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

// Shell completion (cobra's `cairn completion bash|zsh|fish|powershell`)
// asks these for the values only the repository knows.

// completeSnapshots offers snapshot ids, newest first, with their source
// and time as the description, then "latest".
func (a *app) completeSnapshots(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	repo, err := a.open(cmd.Context(), false)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	snaps, err := repo.Snapshots(cmd.Context(), cairn.SnapshotFilter{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out := []string{"latest\tthe newest snapshot"}
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		id := fmt.Sprint(s.ID)
		if strings.HasPrefix(id, toComplete) {
			out = append(out, fmt.Sprintf("%s\t%s %s", id, s.Source, s.Started.Local().Format("2006-01-02 15:04")))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

func (a *app) completeSnapshotFlag(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return a.completeSnapshots(cmd, nil, toComplete)
}

// completeSources offers the recorded sources.
func (a *app) completeSources(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	repo, err := a.open(cmd.Context(), false)
	if err != nil {
		return nil, cobra.ShellCompDirectiveDefault
	}
	srcs, err := repo.Sources(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []string
	for _, s := range srcs {
		if strings.HasPrefix(s.Path, toComplete) {
			out = append(out, s.Path)
		}
	}
	// Paths inside a source complete as files do.
	return out, cobra.ShellCompDirectiveDefault
}

// formats are the values of each command's --format.
var formats = map[string][]string{"dump": {"tar", "zip"}, "sql": {"table", "csv", "json"}}

// registerCompletions attaches completions to the flags that take a
// snapshot, a source or a format, wherever a command has them.
func (a *app) registerCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, fn := range map[string]cobra.CompletionFunc{
			"snapshot": a.completeSnapshotFlag,
			"source":   a.completeSources,
		} {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		if values, ok := formats[c.Name()]; ok && c.Flags().Lookup("format") != nil {
			_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		}
		if c.ValidArgsFunction == nil && c.Args != nil && !c.HasSubCommands() {
			switch c.Name() {
			case "snap", "ls", "log", "restore", "cat", "dump":
				c.ValidArgsFunction = a.completeSources
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
