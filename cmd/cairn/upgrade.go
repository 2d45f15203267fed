package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) upgradeCommand() *cobra.Command {
	var password bool
	c := &cobra.Command{
		Use:   "upgrade",
		Short: "Turn a format-1 repository into format 2 (encrypted, with a log) in place",
		Long: `Turn a repository made by an older cairn (format 1: catalog.db at the top,
packs in the clear) into format 2 in place: every pack is re-encoded
(keyed chunk ids, sealed), the catalog moves to REPO/local/ and becomes
the log's first checkpoint, then the repository switches, then the old
packs and catalog are deleted. Killed at any point, it leaves either the
old repository working or the new one; run it again to finish.

Snapshots, ids and history stay as they are, and files that did not
change are not stored again. The new master key is kept as cairn init
keeps it: REPO/local/key without a password, key files with one
(--password asks for it; CAIRN_PASSWORD, --password-file and --key-file
work as for init). Stop other cairn commands (watch, timers) first: one
that opened the repository before the upgrade fails at its next write
and must be run again. It needs room for a second copy of the packs.`,
		Example: "  cairn upgrade\n  cairn upgrade --password --repo /backup/cairn",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := a.repoDir()
			if err != nil {
				return err
			}
			var opts cairn.Options
			a.credentials(&opts)
			if password && !a.hasCredentials() {
				if !a.stdinTerminal() {
					return usageError{fmt.Errorf("upgrade --password asks at the prompt, and stdin is not a terminal; give the password with CAIRN_PASSWORD or --password-file")}
				}
				if opts.Password, err = a.newPassword("", "--password-file"); err != nil {
					return err
				}
			}
			opts.Waiting = func(msg string) { fmt.Fprintf(a.stderr, "cairn: %s\n", msg) }
			rep, err := cairn.Upgrade(cmd.Context(), dir, opts)
			if err != nil {
				return err
			}
			if rep.Done {
				msg := fmt.Sprintf("%s is format 2 already", displayPath(dir))
				if rep.OldPacksRemoved > 0 {
					msg += fmt.Sprintf("; removed %s an interrupted upgrade left", plural(rep.OldPacksRemoved, "old pack"))
				}
				fmt.Fprintln(a.stdout, msg)
				return nil
			}
			key := "its key is " + displayPath(dir) + "/local/key (no password; cairn key add adds one)"
			if rep.Password {
				key = "its key is in key files under keys/ (password)"
			}
			fmt.Fprintf(a.stdout, "upgraded %s to format 2: %s re-encoded (%d chunks, %s read, %s written) in %s; %s\n",
				displayPath(dir), plural(rep.Packs, "pack"), rep.Chunks, size(rep.BytesRead), size(rep.BytesWritten), seconds(rep.Duration), key)
			return nil
		},
	}
	c.Flags().BoolVar(&password, "password", false, "protect the upgraded repository with a password asked at the prompt")
	return c
}
