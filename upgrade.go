package cairn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
	"github.com/cairn-dev/cairn/keys"
	"github.com/cairn-dev/cairn/metalog"
)

// Upgrading a format-1 repository in place (docs/design.md, "Upgrade"):
//
//  1. under the repository lock (exclusive), a new master key is stored as
//     format 2 keeps it (local/key, or key files for a password), and the
//     catalog is copied to local/catalog.db.upgrade;
//  2. every pack is re-encoded into a new format-2 pack (keyed chunk ids,
//     sealed blobs and footer), durable before the copy records it; chunk
//     row ids stay, so contents, versions and snapshots do not change;
//  3. the converted copy becomes the log's first checkpoint, then
//     local/catalog.db;
//  4. cairn.repo is written: the switch. Before it, the directory is a
//     format-1 repository that works as it did (what the attempt wrote is
//     unreferenced, and the next attempt removes it, new packs included);
//     after it, a format-2 one;
//  5. the old catalog is retired (a process that opened it before gets an
//     error at its next write), the old packs are deleted, then the old
//     catalog. A crash here leaves leftovers that the next cairn upgrade
//     (or gc, for packs) removes.

// UpgradeReport says what Upgrade did.
type UpgradeReport struct {
	// Done: the repository was format 2 already; only leftovers of an
	// interrupted upgrade (if any) were removed.
	Done            bool
	Packs, Chunks   int
	BytesRead       int64 // stored bytes of the old packs
	BytesWritten    int64 // stored bytes of the new packs
	OldPacksRemoved int
	Password        bool // the master key is in key files, not local/key
	Duration        time.Duration
}

// upgradeRetired is what a process still holding the old catalog is told.
const upgradeRetired = "this repository was upgraded to format 2 meanwhile: run the command again"

// upgradeStep, if set (tests only), is called at each step; an error stops
// the upgrade there as a crash would.
var upgradeStep func(step string) error

func step(name string) error {
	if upgradeStep == nil {
		return nil
	}
	return upgradeStep(name)
}

// Upgrade turns the format-1 repository in dir into format 2 in place; the
// password (or key file) in opts protects the new master key, as at
// create. On a format-2 repository it removes what an interrupted upgrade
// left behind and reports Done.
func Upgrade(ctx context.Context, dir string, opts Options) (*UpgradeReport, error) {
	start := time.Now()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", dir, err)
	}
	lay, err := checkLayout(abs, false)
	if err != nil {
		return nil, err
	}
	if lay == layoutFormat2 {
		rep, err := finishUpgrade(ctx, abs, opts)
		if rep != nil {
			rep.Duration = time.Since(start)
		}
		return rep, err
	}
	o := Options{Now: opts.Now, Waiting: opts.Waiting}
	r, err := Open(ctx, abs, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r != nil {
			r.Close()
		}
	}()
	if r.keys != nil {
		return &UpgradeReport{Done: true}, nil
	}
	if r.readOnly {
		return nil, r.errReadOnly()
	}
	lock, err := r.lockRepo(ctx, repolock.Exclusive)
	if errors.Is(err, errUpgradedMeanwhile) {
		return &UpgradeReport{Done: true, Duration: time.Since(start)}, nil
	}
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	// Another upgrade may have finished while this one waited for the
	// lock: the directory is format 2 now, and its local/ must not be
	// taken for an interrupted attempt's.
	if _, err := os.Stat(filepath.Join(abs, repoFileName)); err == nil {
		return &UpgradeReport{Done: true, Duration: time.Since(start)}, nil
	}
	rep, oldPacks, err := r.convert(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", abs, err)
	}
	// Switched: the old catalog and packs are leftovers from here on.
	if err := step("switched"); err != nil {
		return nil, err
	}
	if err := r.db.Retire(ctx, upgradeRetired); err != nil {
		return nil, fmt.Errorf("upgrade %s: the repository is format 2 now, but: %w", abs, err)
	}
	for _, name := range oldPacks {
		if err := r.store.Delete(ctx, name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return nil, fmt.Errorf("upgrade %s: the repository is format 2 now (cairn upgrade again removes the rest), but: %w", abs, err)
		}
		rep.OldPacksRemoved++
		if rep.OldPacksRemoved == 1 {
			if err := step("deleting"); err != nil {
				return nil, err
			}
		}
	}
	err = r.Close()
	r = nil
	if err != nil {
		return nil, err
	}
	if err := removeFormat1Leftovers(abs); err != nil {
		return nil, fmt.Errorf("upgrade %s: the repository is format 2 now, but: %w", abs, err)
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// convert does steps 1 to 4 and returns the old packs' names.
func (r *Repo) convert(ctx context.Context, opts Options) (*UpgradeReport, []string, error) {
	rep := &UpgradeReport{}
	local := filepath.Join(r.Dir, localName)
	// An interrupted attempt's local/, keys/, log/ and checkpoints/ are
	// referenced by nothing (no cairn.repo): start afresh, so that no key
	// file of an abandoned master key survives to be tried at unlock.
	for _, d := range []string{local, filepath.Join(r.Dir, "keys"), filepath.Join(r.Dir, "log"), filepath.Join(r.Dir, "checkpoints")} {
		if err := os.RemoveAll(d); err != nil {
			return nil, nil, fmt.Errorf("remove what an interrupted upgrade left: %w", err)
		}
	}
	if err := r.removeAbandonedPacks(ctx); err != nil {
		return nil, nil, err
	}
	objs, err := blobstore.NewLocalObjects(r.Dir, filepath.Join(local, "tmp"))
	if err != nil {
		return nil, nil, err
	}
	m, err := keys.NewMaster()
	if err != nil {
		return nil, nil, err
	}
	if err := storeNewMaster(ctx, objs, local, m, opts); err != nil {
		return nil, nil, err
	}
	secrets, _ := opts.secrets()
	rep.Password = len(secrets) > 0
	ks, err := keys.Derive(m)
	if err != nil {
		return nil, nil, err
	}
	id, err := randomID(16)
	if err != nil {
		return nil, nil, err
	}
	codec, err := blobstore.NewCodec(ks, id)
	if err != nil {
		return nil, nil, err
	}
	writer, err := randomID(8)
	if err != nil {
		return nil, nil, err
	}
	if err := writeLocalFile(local, writerName, writer+"\n"); err != nil {
		return nil, nil, err
	}

	convPath := filepath.Join(local, catalogName+".upgrade")
	if _, err := sqlitefile.Backup(ctx, r.db.Path(), convPath, 30*time.Second); err != nil {
		return nil, nil, fmt.Errorf("copy the catalog: %w", err)
	}
	conv, err := catalog.Open(ctx, convPath, false)
	if err != nil {
		return nil, nil, fmt.Errorf("open the catalog's copy: %w", err)
	}
	defer func() {
		if conv != nil {
			conv.Close()
		}
	}()
	packs, err := conv.Packs(ctx)
	if err != nil {
		return nil, nil, err
	}
	var oldNames []string
	reader := blobstore.NewReader(r.store, nil)
	for _, p := range packs {
		if p.Missing {
			return nil, nil, fmt.Errorf("pack %s is missing (cairn check found it so): run cairn snap of the sources that had data in it, then cairn gc, and upgrade after", p.Name)
		}
		n, read, written, err := rekeyPack(ctx, r.store, reader, codec, conv, p)
		if err != nil {
			return nil, nil, err
		}
		rep.Packs++
		rep.Chunks += n
		rep.BytesRead += read
		rep.BytesWritten += written
		oldNames = append(oldNames, p.Name)
		if rep.Packs == 1 {
			if err := step("packs"); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := conv.MarkUpgraded(ctx, 1); err != nil {
		return nil, nil, err
	}
	lg, err := metalog.New(objs, ks, id, writer)
	if err != nil {
		return nil, nil, err
	}
	if _, err := lg.WriteCheckpoint(ctx, func(w io.Writer) (int64, error) { return conv.DumpState(ctx, w) }); err != nil {
		return nil, nil, err
	}
	if err := step("checkpoint"); err != nil {
		return nil, nil, err
	}
	err = conv.Close()
	conv = nil
	if err != nil {
		return nil, nil, err
	}
	if err := os.Rename(convPath, filepath.Join(local, catalogName)); err != nil {
		return nil, nil, fmt.Errorf("install the converted catalog: %w", err)
	}
	if err := syncDir(local); err != nil {
		return nil, nil, err
	}
	if err := step("catalog"); err != nil {
		return nil, nil, err
	}
	rf, err := json.MarshalIndent(repoFile{
		Format:  RepositoryFormat,
		ID:      id,
		Cipher:  cipherName,
		IDHash:  idHashName,
		Chunker: r.Params.String(),
		Created: r.now().UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if err := objs.PutObject(ctx, repoFileName, append(rf, '\n')); err != nil {
		return nil, nil, fmt.Errorf("switch to format 2: %w", err)
	}
	return rep, oldNames, nil
}

// sealedPackMagic starts every format-2 pack (blobstore/pack.go).
const sealedPackMagic = "CAIRNPK2"

// removeAbandonedPacks deletes the format-2 packs an interrupted upgrade
// wrote: a format-1 catalog never refers to one, so every such pack in a
// format-1 repository is an attempt's, and without this each retry would
// leave another copy of the repository's data behind.
func (r *Repo) removeAbandonedPacks(ctx context.Context) error {
	var names []string
	err := r.store.List(ctx, func(name string, size int64) error {
		if size < int64(len(sealedPackMagic)) {
			return nil
		}
		magic := make([]byte, len(sealedPackMagic))
		if err := r.store.ReadAt(ctx, name, magic, 0); err != nil {
			return err
		}
		if string(magic) == sealedPackMagic {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list what an interrupted upgrade left: %w", err)
	}
	for _, name := range names {
		if err := r.store.Delete(ctx, name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("remove what an interrupted upgrade left: %w", err)
		}
	}
	return nil
}

// rekeyPack re-encodes the chunks of one old pack into one new pack and
// records them in conv. Chunks that shared a blob share one again, so the
// compression of small chunks together is kept.
func rekeyPack(ctx context.Context, store blobstore.Store, reader *blobstore.Reader, codec *blobstore.Codec, conv *catalog.DB, p catalog.Pack) (chunks int, read, written int64, err error) {
	locs, err := conv.ChunksInPack(ctx, p.ID)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(locs) == 0 {
		return 0, 0, 0, conv.RekeyPack(ctx, p.ID, catalog.NewPack{}, nil)
	}
	w, err := blobstore.NewPackWriter(ctx, store, codec)
	if err != nil {
		return 0, 0, 0, err
	}
	defer w.Abort()
	var rekeyed []catalog.RekeyedChunk
	var plain, buf, sealed []byte
	for i := 0; i < len(locs); {
		j := i
		end := int64(0)
		for j < len(locs) && locs[j].Offset == locs[i].Offset {
			end = max(end, locs[j].PlainOffset+locs[j].Size)
			j++
		}
		read += locs[i].Length
		plain = append(plain[:0], make([]byte, end)...)
		parts := make([]blobstore.Part, 0, j-i)
		for _, l := range locs[i:j] {
			if buf, err = reader.ReadChunk(ctx, p.Name, l.Entry(), buf[:0]); err != nil {
				return 0, 0, 0, fmt.Errorf("read chunk %d of pack %s (cairn check --read-data names the damage): %w", l.ID, p.Name, err)
			}
			copy(plain[l.PlainOffset:], buf)
			parts = append(parts, blobstore.Part{ID: codec.Sum(buf), PlainOffset: l.PlainOffset, Size: l.Size})
		}
		sealed = codec.Encode(sealed[:0], plain)
		entries, err := w.AddBlob(parts, sealed)
		if err != nil {
			return 0, 0, 0, err
		}
		for k, e := range entries {
			rekeyed = append(rekeyed, catalog.RekeyedChunk{ID: locs[i+k].ID, Hash: e.ID, Offset: e.Offset, Length: e.Length})
		}
		i = j
	}
	info, err := w.Finish(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := conv.RekeyPack(ctx, p.ID, catalog.NewPack{Name: info.Name, Size: info.Size}, rekeyed); err != nil {
		return 0, 0, 0, err
	}
	return len(locs), read, info.Size, nil
}

// finishUpgrade removes what an upgrade interrupted after its switch left
// in a format-2 repository: the old packs (named by the old catalog),
// then the old catalog and the format-1 scratch and locks.
func finishUpgrade(ctx context.Context, dir string, opts Options) (*UpgradeReport, error) {
	rep := &UpgradeReport{Done: true}
	old := filepath.Join(dir, catalogName)
	if _, err := os.Stat(old); errors.Is(err, fs.ErrNotExist) {
		return rep, removeFormat1Leftovers(dir)
	}
	// Unlocking proves the caller may change the repository.
	r, err := Open(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.readOnly {
		return nil, r.errReadOnly()
	}
	lock, err := r.lockRepo(ctx, repolock.Exclusive)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	oldDB, err := catalog.OpenReadOnly(ctx, old)
	if err != nil {
		return nil, fmt.Errorf("read the format-1 catalog an upgrade left: %w", err)
	}
	packs, err := oldDB.Packs(ctx)
	oldDB.Close()
	if err != nil {
		return nil, err
	}
	live, err := r.db.Packs(ctx)
	if err != nil {
		return nil, err
	}
	inUse := map[string]bool{}
	for _, p := range live {
		inUse[p.Name] = true
	}
	for _, p := range packs {
		if inUse[p.Name] {
			continue // never: a re-encoded pack has another name
		}
		err := r.store.Delete(ctx, p.Name)
		if err == nil {
			rep.OldPacksRemoved++
		} else if !errors.Is(err, blobstore.ErrNotFound) {
			return nil, err
		}
	}
	return rep, removeFormat1Leftovers(dir)
}

// removeFormat1Leftovers removes the old catalog and format 1's scratch,
// lock files and source locks, which format 2 keeps under local/.
func removeFormat1Leftovers(dir string) error {
	for _, name := range []string{catalogName, catalogName + "-wal", catalogName + "-shm", "tmp", "locks", "lock"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return syncDir(dir)
}
