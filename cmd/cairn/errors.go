package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-dev/cairn"
)

// userMessage is the one line cairn prints for a failed command: in the
// user's words, without the sentinel text of the packages underneath
// (which is for programs, through errors.Is), and safe for a terminal.
func userMessage(err error) string {
	msg := err.Error()
	var noSnap *cairn.NoSnapshotError
	if errors.As(err, &noSnap) {
		msg = strings.Replace(msg, noSnap.Error(), fmt.Sprintf("no snapshot %d (cairn snapshots lists them)", noSnap.ID), 1)
	}
	// Messages that already say what is missing or wrong end with the
	// sentinel that lets programs tell ("x is in no snapshot of y:
	// catalog: not found"); a person needs it once, not twice.
	if head, ok := strings.CutSuffix(msg, ": "+cairn.ErrNotFound.Error()); ok {
		if strings.Contains(head, "no snapshot") || strings.Contains(head, "not in snapshot") {
			msg = head
		} else {
			msg = head + ": not in the catalog"
		}
	}
	return displayText(readableSuggestions(msg + hint(err)))
}

// hint says in the CLI's words what to do about an error, told by the
// sentinels of package cairn, which keeps its own messages free of flags
// and commands (litestream keeps a separate hint the same way). It is
// appended to the message; "" when there is nothing to add.
func hint(err error) string {
	switch {
	case errors.Is(err, cairn.ErrRemoteNeedsKey):
		return "; give one with CAIRN_PASSWORD, --password-file, --key-file, or init --password"
	case errors.Is(err, cairn.ErrOnlyLocalKey):
		return "; add a password with cairn key add, then replicate (the replica opens with it)"
	case errors.Is(err, cairn.ErrReplicaAhead):
		return "; replicate to a new --to (or cairn recover --repo it, if it is now the one in use)"
	case errors.Is(err, cairn.ErrOtherRepository):
		return "; choose another --to"
	case errors.Is(err, cairn.ErrNoRepository):
		return " (cairn snap or cairn init creates one)"
	case errors.Is(err, cairn.ErrNotRepository):
		return "; choose another --repo"
	case errors.Is(err, cairn.ErrReadOnly):
		return "; only commands that read work here"
	case errors.Is(err, cairn.ErrNoSource):
		return " (cairn snapshots lists them)"
	case errors.Is(err, cairn.ErrPasswordRequired):
		return "; give it with " + waysToGivePassword
	case errors.Is(err, cairn.ErrWrongPassword):
		return " (CAIRN_PASSWORD, --password-file, or the prompt)"
	case errors.Is(err, cairn.ErrWrongKeyFile):
		return " (--key-file or CAIRN_KEY_FILE)"
	case errors.Is(err, cairn.ErrLastKey):
		return " (cairn key add adds another first)"
	case errors.Is(err, cairn.ErrNotPassword):
		return " (cairn key add adds a password)"
	case errors.Is(err, cairn.ErrNoSuchKey):
		return " (cairn key list lists them)"
	case errors.Is(err, cairn.ErrNoKeys):
		return "; cairn upgrade makes it format 2"
	case errors.Is(err, cairn.ErrNoKey):
		return "; a repository made without a password keeps its key in local/key: put back a copy of that file"
	case errors.Is(err, cairn.ErrLogDamaged):
		return "; put back a copy of local/catalog.db if there is one (the rebuild moved the old one aside as catalog.db.*.old) and run cairn repair log"
	case damagedSQLite(err):
		// A catalog damaged past its header and schema opens and fails
		// only when a query reaches the bad page; gc and check find it
		// (integrity_check), other commands say how to.
		return "; if that is the catalog, cairn check says so and cairn repair catalog rebuilds it from the log"
	}
	return ""
}

// damagedSQLite reports whether SQLite failed on a damaged database file.
func damagedSQLite(err error) bool { return cairn.IsDamagedDatabase(err) }

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
