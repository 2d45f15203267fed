package main

import (
	"fmt"

	"github.com/cairn-dev/cairn"
	"github.com/spf13/cobra"
)

func (a *app) hostsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hosts",
		Short: "List the hosts (installations) that write to the repository",
		Long: `List the writers of the repository this installation knows, itself first:
the host name each recorded (its join record; CAIRN_HOST sets this one's),
its writer id (the name of its log under log/), how many of its snapshots
the catalog holds, how far its log was read, and who adopted it. Another
host's snapshots are named HOST:N (cairn snapshots, --snapshot). The other
hosts' logs are read first.`,
		Example: "  cairn hosts\n  cairn snapshots --host laptop",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			hosts, err := repo.Hosts(cmd.Context())
			if err != nil {
				return err
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "HOST\tWRITER\tSNAPSHOTS\tRECORDS\tNOTE")
			for _, h := range hosts {
				note := ""
				switch {
				case h.Self:
					note = "this installation"
				case h.AdoptedBy != "":
					note = "adopted by " + displayText(h.AdoptedBy)
				}
				name := h.Name
				if name == "" {
					name = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", displayText(name), h.Writer, h.Snapshots, h.Applied, note)
			}
			return tw.Flush()
		},
	}
}

func (a *app) adoptCommand() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "adopt HOST",
		Short: "Continue a lost machine's histories on this installation",
		Long: `Make this installation continue the sources of HOST (a host name or writer
id, as cairn hosts lists them), a machine that is lost or retired: the next
snapshot of such a source's path here compares against and closes HOST's
versions, so its history goes on (its snapshots keep HOST's numbering,
HOST:N), and retention (forget, policy) of those sources becomes this
installation's. The adoption is a record in this installation's log, seen
by every other host.

A host that wrote to the repository in the last 24 hours is refused: if it
is still alive and snapshots before it reads the adoption, it and this
installation number snapshots in one series and no host can apply both.
--force adopts it anyway, once you are sure it is gone.`,
		Example: "  cairn recover --repo s3://backups/all\n  cairn adopt old-laptop\n  cairn snap ~/.agent",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			w, err := repo.Adopt(cmd.Context(), args[0], cairn.AdoptOptions{Force: force})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "adopted %s (writer %s): its sources continue here\n", displayText(args[0]), w)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "adopt a host that wrote to the repository in the last 24 hours")
	return c
}
