package catalog

import "time"

// Warning kinds, as stored in warning.kind and listed in docs/sql.md.
const (
	WarnJSONEmptied         = "json-emptied"          // a JSON document went from N entries to 0
	WarnJSONTorn            = "json-torn"             // a .json file is not valid JSON (stored, marked invalid)
	WarnMassDeletion        = "mass-deletion"         // a large share of the source's files were removed
	WarnSecretReadable      = "secret-readable"       // a secret-named file is readable by group or others
	WarnDatabaseCheck       = "database-check"        // a captured database failed quick_check
	WarnDatabaseUnreadable  = "database-unreadable"   // SQLite could not open a database; stored raw
	WarnChangedWhileReading = "changed-while-reading" // a file kept changing while read
	WarnVanished            = "vanished"              // removed or replaced while the snapshot ran
	WarnUnreadable          = "unreadable"            // could not be read; skipped
	WarnSpecial             = "special"               // a socket, FIFO or device; not stored
	WarnMissingPack         = "missing-pack"          // a pack the catalog names is gone from the store; its chunks were stored again
)

// WarningKinds lists every kind, in the order docs/sql.md gives them.
var WarningKinds = []string{
	WarnJSONEmptied, WarnJSONTorn, WarnMassDeletion, WarnSecretReadable, WarnDatabaseCheck,
	WarnDatabaseUnreadable, WarnChangedWhileReading, WarnVanished, WarnUnreadable, WarnSpecial, WarnMissingPack,
}

// WarningHoldFor is how long the snapshot a warning names (RefSnapshotID)
// is held against retention policies: long enough for a person to read a
// nightly cron mail from last week and still run the restore it suggests.
const WarningHoldFor = 7 * 24 * time.Hour
