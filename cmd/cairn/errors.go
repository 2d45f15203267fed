package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-dev/cairn/catalog"
)

// userMessage is the one line cairn prints for a failed command: in the
// user's words, without the sentinel text of the packages underneath
// (which is for programs, through errors.Is), and safe for a terminal.
func userMessage(err error) string {
	msg := err.Error()
	var noSnap *catalog.NoSnapshotError
	if errors.As(err, &noSnap) {
		msg = strings.Replace(msg, noSnap.Error(), fmt.Sprintf("no snapshot %d (cairn snapshots lists them)", noSnap.ID), 1)
	}
	// Messages that already say what is missing or wrong end with the
	// sentinel that lets programs tell ("x is in no snapshot of y:
	// catalog: not found"); a person needs it once, not twice.
	if head, ok := strings.CutSuffix(msg, ": "+catalog.ErrNotFound.Error()); ok {
		if strings.Contains(head, "no snapshot") || strings.Contains(head, "not in snapshot") {
			msg = head
		} else {
			msg = head + ": not in the catalog"
		}
	}
	msg = strings.TrimSuffix(msg, ": "+catalog.ErrNotCatalog.Error()) // after "belongs to another program"
	return displayText(readableSuggestions(msg))
}

// readableSuggestions puts cobra's typo suggestion for an unknown command
// ("\n\nDid you mean this?\n\tsnap\n") on the same line as the error.
func readableSuggestions(msg string) string {
	head, list, ok := strings.Cut(msg, "\n\nDid you mean this?\n")
	if !ok {
		return msg
	}
	names := strings.Fields(list)
	if len(names) == 0 {
		return head
	}
	alternatives := names[0]
	if len(names) > 1 {
		alternatives = strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	return head + "; did you mean " + alternatives + "?"
}
