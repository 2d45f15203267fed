package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cairn-dev/cairn/catalog"
)

func TestUserMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&catalog.NoSnapshotError{ID: 999}, "no snapshot 999 (cairn snapshots lists them)"},
		{fmt.Errorf("forget: %w", &catalog.NoSnapshotError{ID: 7}), "forget: no snapshot 7 (cairn snapshots lists them)"},
		{fmt.Errorf("a.txt is in no snapshot of /src: %w", catalog.ErrNotFound), "a.txt is in no snapshot of /src"},
		{fmt.Errorf("/src has no snapshots: %w", catalog.ErrNotFound), "/src has no snapshots"},
		{fmt.Errorf("content 5: %w", catalog.ErrNotFound), "content 5: not in the catalog"},
		{fmt.Errorf("x/catalog.db belongs to another program (application_id 0x0): %w", catalog.ErrNotCatalog),
			"x/catalog.db belongs to another program (application_id 0x0)"},
		{errors.New("unknown command \"snpa\" for \"cairn\"\n\nDid you mean this?\n\tsnap\n"),
			`unknown command "snpa" for "cairn"; did you mean snap?`},
		{errors.New("unknown command \"s\" for \"cairn\"\n\nDid you mean this?\n\tsnap\n\tls\n\tsql\n"),
			`unknown command "s" for "cairn"; did you mean snap, ls or sql?`},
		{errors.New("open red\x1b[31m\nfile: denied"), `open red\x1b[31m; file: denied`},
	} {
		if got := userMessage(tc.err); got != tc.want {
			t.Errorf("userMessage(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
