package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) dumpCommand() *cobra.Command {
	var snap, format, output string
	c := &cobra.Command{
		Use:   "dump PATH",
		Short: "Write a file or directory of a snapshot as a tar or zip stream",
		Long: `dump writes a file or directory of a snapshot to stdout (or -o FILE) as a
tar archive (modes, nanosecond mtimes, symbolic links, long names, as PAX) or
a zip archive. It streams: memory stays the same however large the tree.

Entries are named from the directory's own name (cron/, cron/jobs.json); the
source's root is dumped from inside it, so extracting rebuilds the tree.`,
		Example: "  cairn dump ~/.agent > agent.tar\n" +
			"  cairn dump --snapshot 41 ~/.agent/cron | tar -t\n" +
			"  cairn dump --format zip -o agent-41.zip --snapshot 41 ~/.agent",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseSnapshot(snap)
			if err != nil {
				return err
			}
			if format == "" {
				format = "tar"
				if strings.EqualFold(filepath.Ext(output), ".zip") {
					format = "zip"
				}
			}
			if format != "tar" && format != "zip" {
				return usageError{fmt.Errorf("--format %q: want tar or zip", format)}
			}
			if output == "" && isTerminal(a.stdout) {
				return usageError{errors.New("not writing an archive to a terminal; redirect stdout or use -o FILE")}
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			id, err := ref.forPath(cmd.Context(), repo, args[0])
			if err != nil {
				return err
			}
			opts := cairn.DumpOptions{Snapshot: id, Format: format}
			if output != "" {
				_, err = repo.DumpFile(cmd.Context(), args[0], opts, output)
				return err
			}
			_, err = repo.Dump(cmd.Context(), args[0], opts, a.stdout)
			return err
		},
	}
	c.Flags().StringVar(&snap, "snapshot", "", snapshotUsage+" (default: the newest that has the path)")
	c.Flags().StringVar(&format, "format", "", "tar or zip (default tar, or zip when -o ends in .zip)")
	c.Flags().StringVarP(&output, "output", "o", "", "write to FILE, atomically, mode 0600 (default stdout)")
	return c
}
