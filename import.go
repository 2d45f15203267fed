package cairn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/importer"
	"github.com/cairn-dev/cairn/snapshot"
)

// ImportLabel labels every imported snapshot unless the caller chooses
// another label. A labelled snapshot is protected from automatic retention
// (see protections): the user asked for exactly this history to be kept,
// and a policy such as --keep-last 20 would otherwise forget most of an
// imported year the moment it arrived, since the policy judges by the
// snapshots' original times.
const ImportLabel = "imported"

// ImportTag is added to the tags of every imported snapshot, so that
// imports can be listed (cairn snapshots, SQL) whatever their label.
const ImportTag = "imported"

// ErrImportOrder refuses backups older than a snapshot the source already
// has. A source's history is a sequence of snapshot ids in time order (a
// version lives from one id to another, the newest id is the live state
// the next snapshot compares with, "latest" is the highest id); a backup
// slotted in behind newer snapshots would become the source's latest state.
var ErrImportOrder = errors.New("backup is older than the source's newest snapshot")

// ImportOptions tune Import.
type ImportOptions struct {
	// Time is the time of the only backup; zero takes it from the backup
	// (see importer.Find).
	Time time.Time
	// Label is the snapshots' label; "" means ImportLabel.
	Label string
	// Tags are added to ImportTag.
	Tags []string
	// KeepWrapper keeps a single directory wrapping a backup's contents
	// (such as .hermes/) as a directory of the source instead of taking
	// its contents as the source's.
	KeepWrapper bool
}

// Imported is one backup brought into history.
type Imported struct {
	Backup importer.Backup
	// Stripped is the wrapping directory whose contents became the
	// source's, "" if none.
	Stripped string
	// Skipped lists archive entries not imported (runtime files, symlinks
	// pointing outside, special files); a directory's runtime files are
	// excluded without a list.
	Skipped []importer.Skipped
	// Tightened lists secret-named files given 0600 because the archive
	// had no mode for them.
	Tightened []string
	Snapshot  *snapshot.Result
}

// Import brings existing backups (zip and tar archives, directories,
// directory-per-snapshot layouts; see importer.Find) into the history of
// source, each as a snapshot with its original time, oldest first. source
// need not exist on this machine. Backups older than the source's newest
// snapshot are refused (ErrImportOrder) before anything is imported.
//
// An archive is unpacked into the repository's tmp/ (confined, checked
// entry by entry) and snapshotted from there; a directory is read where it
// is. Runtime files are never imported. On error, the backups imported
// before it stay committed and are returned.
func (r *Repo) Import(ctx context.Context, source string, paths []string, opts ImportOptions) ([]Imported, error) {
	root, err := importSource(source)
	if err != nil {
		return nil, err
	}
	if root == r.Dir || strings.HasPrefix(root, r.Dir+string(filepath.Separator)) {
		return nil, fmt.Errorf("source %s: %w %s", root, snapshot.ErrInsideRepository, r.Dir)
	}
	backups, err := importer.Find(paths, opts.Time)
	if err != nil {
		return nil, err
	}
	if len(backups) == 0 {
		return nil, fmt.Errorf("import %s: %w", strings.Join(paths, ", "), importer.ErrNothing)
	}
	release, err := r.lockForSource(ctx, root)
	if err != nil {
		return nil, err
	}
	defer release()
	src, err := r.db.SourceByPath(ctx, root)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return nil, err
	}
	if err := r.checkImportOrder(ctx, src, backups); err != nil {
		return nil, err
	}
	rootMode := fs.FileMode(0o700)
	if fi, err := os.Stat(root); err == nil && fi.IsDir() {
		rootMode = fi.Mode().Perm()
	}
	label := opts.Label
	if label == "" {
		label = ImportLabel
	}
	tags := append([]string{ImportTag}, opts.Tags...)
	removeStaleScratch(r.tmpDir())
	var out []Imported
	for _, b := range backups {
		im, err := r.importOne(ctx, root, src, b, rootMode, label, tags, opts.KeepWrapper)
		if err != nil {
			return out, fmt.Errorf("import %s: %w", b.Path, err)
		}
		out = append(out, *im)
	}
	// Retention runs once, after the whole history is in: run after each
	// backup it would judge a half-imported history.
	if src, err = r.db.SourceByPath(ctx, root); err != nil {
		return out, err
	}
	_, forgotten, _, err := r.applyPolicy(ctx, src, nil, nil, false, false)
	if err != nil {
		backups := "backups"
		if len(out) == 1 {
			backups = "backup"
		}
		return out, fmt.Errorf("imported %d %s, but applying the retention policy failed: %w", len(out), backups, err)
	}
	out[len(out)-1].Snapshot.Forgotten = forgotten
	return out, nil
}

// importSource is the path a source is recorded at: canonical when it
// exists here, else absolute and clean (the machine it lived on is gone).
func importSource(source string) (string, error) {
	if _, err := os.Lstat(source); err == nil {
		root, err := snapshot.CanonicalSource(source)
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("source %s is not a directory", root)
		}
		return root, nil
	}
	abs, err := filepath.Abs(source)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", source, err)
	}
	return abs, nil
}

func (r *Repo) checkImportOrder(ctx context.Context, src catalog.Source, backups []importer.Backup) error {
	if src.ID == 0 {
		return nil
	}
	snaps, err := r.db.Snapshots(ctx, src.ID)
	if err != nil || len(snaps) == 0 {
		return err
	}
	newest := snaps[len(snaps)-1]
	for _, b := range backups {
		if !b.Time.After(newest.Started) {
			return fmt.Errorf("backup %s (%s) is not newer than snapshot %d (%s) of %s: %w",
				b.Path, b.Time.UTC().Format(time.RFC3339), newest.ID, newest.Started.UTC().Format(time.RFC3339), src.Path, ErrImportOrder)
		}
	}
	return nil
}

func (r *Repo) importOne(ctx context.Context, root string, src catalog.Source, b importer.Backup, rootMode fs.FileMode, label string, tags []string, keepWrapper bool) (*Imported, error) {
	im := &Imported{Backup: b}
	// Runtime files are never imported: in a directory they are excluded
	// from the walk, in an archive they are not even unpacked.
	excludes := append(append([]string(nil), importer.RuntimePatterns...), src.Runtime...)
	readFrom, wrapper := b.Path, ""
	if b.Kind == importer.Dir {
		if b.Manifest {
			excludes = append(excludes, "/"+importer.ManifestName)
		}
		var err error
		if wrapper, err = dirWrapper(b.Path, b.Manifest, src.Runtime); err != nil {
			return nil, err
		}
	} else {
		scratch, err := os.MkdirTemp(r.tmpDir(), scratchPrefix+strconv.Itoa(os.Getpid())+"-*")
		if err != nil {
			return nil, fmt.Errorf("create scratch directory: %w", err)
		}
		defer importer.RemoveScratch(scratch)
		rep, err := importer.Extract(b, scratch, importer.Options{Runtime: src.Runtime, RootMode: rootMode, RootTime: b.Time})
		if err != nil {
			return nil, err
		}
		readFrom, wrapper = scratch, rep.Wrapper
		im.Skipped, im.Tightened = rep.Skipped, rep.Tightened
	}
	if wrapper != "" && !keepWrapper {
		has, err := r.newestHasTop(ctx, root, wrapper)
		if err != nil {
			return nil, err
		}
		// A source whose own newest snapshot has this directory at its top
		// is laid out like the backup: keeping the directory keeps the paths
		// of the two the same (stripping it would look like a mass deletion).
		if !has {
			readFrom, im.Stripped = filepath.Join(readFrom, wrapper), wrapper
		}
	}
	at := b.Time
	condemned, condemnedChunks, err := r.condemnedPacks(ctx)
	if err != nil {
		return nil, err
	}
	res, err := snapshot.Run(ctx, snapshot.Deps{DB: r.db, Store: r.store, TmpDir: r.tmpDir(), Params: r.Params, Codec: r.codec(), Condemned: condemned, CondemnedChunks: condemnedChunks}, root,
		snapshot.Options{ReadFrom: readFrom, Label: label, Tags: tags, Excludes: excludes,
			MassDeletion: src.MassDeletion, Now: func() time.Time { return at }})
	if errors.Is(err, snapshot.ErrEmptySource) {
		return nil, fmt.Errorf("%w (once runtime files are left out)", importer.ErrNothing)
	}
	if err != nil {
		return nil, err
	}
	im.Snapshot = res
	return im, nil
}

// scratchPrefix names the directories archives are unpacked into:
// import-<pid>-<random> in the repository's tmp/.
const scratchPrefix = "import-"

// removeStaleScratch removes what imports killed before their cleanup left
// in tmp/: the directories of processes that are gone. Those of a running
// import (another source's) are left alone.
func removeStaleScratch(tmp string) {
	des, _ := os.ReadDir(tmp)
	for _, de := range des {
		rest, ok := strings.CutPrefix(de.Name(), scratchPrefix)
		if !ok || !de.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
			continue
		}
		importer.RemoveScratch(filepath.Join(tmp, de.Name()))
	}
}

// dirWrapper is the one directory a backup directory's contents lie in,
// or "": the layout's manifest and runtime files do not count.
func dirWrapper(dir string, manifest bool, runtime []string) (string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read backup %s: %w", dir, err)
	}
	var names []fs.DirEntry
	for _, de := range des {
		if (manifest && de.Name() == importer.ManifestName) || (!de.IsDir() && importer.IsRuntime(de.Name(), runtime)) {
			continue
		}
		names = append(names, de)
	}
	if len(names) == 1 && names[0].IsDir() {
		return names[0].Name(), nil
	}
	return "", nil
}

// newestHasTop reports whether the newest snapshot of source has name at
// its top level.
func (r *Repo) newestHasTop(ctx context.Context, source, name string) (bool, error) {
	src, err := r.db.SourceByPath(ctx, source)
	if errors.Is(err, catalog.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	snaps, err := r.db.Snapshots(ctx, src.ID)
	if err != nil || len(snaps) == 0 {
		return false, err
	}
	_, err = r.db.VersionAt(ctx, snaps[len(snaps)-1], name)
	if errors.Is(err, catalog.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ParseBackupTime reads a backup's time as given by a user: RFC 3339, or
// the forms backup tools put in names (20260101_120000, 2026-01-01
// 12:00:00, 2026-01-01); without a zone it is local time.
func ParseBackupTime(s string) (time.Time, error) {
	t, ok := importer.ParseTime(s)
	if !ok {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-01-01T12:00:00Z) or 2026-01-01 12:00:00", s)
	}
	return t, nil
}
