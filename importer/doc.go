// Package importer reads backups made by other tools so that cairn can
// record them as snapshots: it finds them (Find: archives, directories,
// directory-per-snapshot layouts, each with its time) and unpacks archives
// safely (Extract).
//
// # Finding backups and their times
//
// A zip or tar (plain, gzip or zstd, told by its first bytes) is one
// backup. A directory whose entries are all directories with a time in
// their name (prompts_snapshots/20260101_120000/) or in a manifest.json
// (state-snapshots/<id>/manifest.json with "timestamp"), or archives, is a
// layout: one backup per entry. Any other directory is one backup. A
// backup's time is, in order: the caller's, its manifest's, one in its
// name (local time without a zone), its newest file's mtime. Find returns
// them oldest first.
//
// # Unpacking
//
// Extract writes through an os.Root on the scratch directory and checks
// every name first (CleanName): an absolute name, any "..", a backslash or
// a NUL refuses the whole archive (ErrUnsafePath), and so does an entry
// beneath a symlink the archive made. Symlinks pointing outside the backup
// are skipped, as are runtime files (*.pid, *.lock, *.sock and the
// caller's patterns) and special files; each skip is reported. Modes,
// mtimes (symlinks' too) and, as root, owners are kept where the archive
// has them; a zip entry without a Unix mode gets 0644, or 0600 when its
// name marks a secret (internal/secretname), and directories 0755.
// Report.Wrapper names the single directory everything lies in, for the
// caller to strip.
package importer
