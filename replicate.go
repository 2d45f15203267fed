package cairn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/s3store"
	"github.com/cairn-dev/cairn/internal/repolock"
)

var (
	// ErrOtherRepository refuses a replica target that holds another
	// repository (another cairn.repo id), or something that is not one.
	ErrOtherRepository = errors.New("the target holds another repository")
	// ErrOnlyLocalKey refuses to replicate a repository whose only key
	// is local/key, which never leaves this machine: nothing could open
	// the replica.
	ErrOnlyLocalKey = errors.New("the repository's only key is local/key, which a replica does not get")
)

// ReplicateOptions tune Replicate.
type ReplicateOptions struct {
	// S3Endpoint is the server of an s3:// target (as Options.S3Endpoint).
	S3Endpoint string
	// Copied, if set, is told of every object or pack copied (its key,
	// "packs/ab/<name>.pack" for a pack, and its size), after it is
	// durable on the target.
	Copied func(key string, size int64)
}

// ReplicateReport says what Replicate did.
type ReplicateReport struct {
	Target string
	// Packs and Objects were copied; PackBytes and ObjectBytes are their sizes.
	Packs, Objects         int
	PackBytes, ObjectBytes int64
	// Present were already on the target, with the right size.
	PresentPacks, PresentObjects int
	// Replaced were on the target with another size (what a server kept
	// of an upload whose client was killed) and were copied again.
	Replaced []string
	// RemovedPacks and RemovedObjects were removed from the target, as gc
	// (and the log's pruning) removed them here; RemovedBytes is their size.
	RemovedPacks, RemovedObjects int
	RemovedBytes                 int64
}

// replicaTarget is where a replica goes: packs and objects.
type replicaTarget struct {
	store blobstore.Store
	objs  blobstore.Objects
}

// Replicate copies the repository proper (cairn.repo, keys/, packs/,
// checkpoints/, log/: everything outside local/) to target, a directory
// or s3://bucket/prefix, so that the target can be recovered on another
// machine with the repository's password (RepairCatalog, cairn recover).
//
// It is incremental and resumable: both sides are listed and only what
// the target lacks is copied; every object is immutable and written
// create-only, so a copy killed halfway leaves whole objects, and the
// next Replicate copies the rest. The order keeps every prefix of the
// copy a consistent repository: cairn.repo and keys first, then every
// pack, then checkpoints, then the log's records in seq order, so no
// record reaches the target before the packs it names. Once everything is
// copied, what gc removed here is removed there (replicate_prune.go); a
// target holding records this repository never had is refused first
// (ErrReplicaAhead). An object already
// on the target with another size is deleted there and copied again (some
// servers keep a truncated object when a PUT's client dies); a pack is
// verified against its name (the BLAKE3 of its bytes) before it is
// written. gc waits while a replication runs (the repository lock is
// held shared), so no pack goes missing between the listing and the
// copy.
func (r *Repo) Replicate(ctx context.Context, target string, opts ReplicateOptions) (*ReplicateReport, error) {
	if r.objects == nil {
		return nil, fmt.Errorf("%s: %w: cairn upgrade first", r.Dir, ErrNoLog)
	}
	files, _, err := listKeyFiles(ctx, r.objects)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("replicate %s: %w", r.Dir, ErrOnlyLocalKey)
	}
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	tgt, name, err := r.openTarget(target, opts)
	if err != nil {
		return nil, err
	}
	defer tgt.store.Close()
	rep := &ReplicateReport{Target: name}
	if err := r.replicateTo(ctx, tgt, rep, opts); err != nil {
		return rep, fmt.Errorf("replicate to %s: %w", name, err)
	}
	return rep, nil
}

// openTarget opens the target's store and objects; a directory target is
// made if missing.
func (r *Repo) openTarget(target string, opts ReplicateOptions) (replicaTarget, string, error) {
	name, self, err := r.resolveTarget(target, opts.S3Endpoint)
	if err != nil {
		return replicaTarget{}, name, err
	}
	if self {
		return replicaTarget{}, name, fmt.Errorf("replicate to %s: %w", name, errSelfTarget)
	}
	if IsRemote(target) {
		cfg, err := s3Config(target, opts.S3Endpoint, r.tmpDir())
		if err != nil {
			return replicaTarget{}, target, err
		}
		st, err := s3store.New(cfg)
		if err != nil {
			return replicaTarget{}, target, fmt.Errorf("replicate to %s: %w", target, err)
		}
		return replicaTarget{st, st}, target, nil
	}
	tmp := filepath.Join(name, localName, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return replicaTarget{}, name, fmt.Errorf("replicate to %s: %w", name, err)
	}
	objs, err := blobstore.NewLocalObjects(name, tmp)
	if err != nil {
		return replicaTarget{}, name, err
	}
	st, err := blobstore.NewLocal(filepath.Join(name, "packs"), tmp)
	if err != nil {
		return replicaTarget{}, name, err
	}
	return replicaTarget{st, objs}, name, nil
}

// errSelfTarget refuses a replica that is the repository itself, or a
// directory overlapping it.
var errSelfTarget = errors.New("it is, or overlaps, the repository itself")

// resolveTarget names a replica target as it is stored and shown (an
// s3:// address as given, a directory made absolute) and says whether it
// is the repository itself. Nothing is contacted.
func (r *Repo) resolveTarget(target, endpoint string) (name string, self bool, err error) {
	if IsRemote(target) {
		cfg, err := s3Config(target, endpoint, "")
		if err != nil {
			return target, false, err
		}
		self = r.remote && cfg.Bucket == r.store.(*s3store.Store).Bucket() && samePrefix(cfg.Prefix, r.store.(*s3store.Store).Prefix())
		return target, self, nil
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return target, false, err
	}
	self = !r.remote && (abs == r.Dir || strings.HasPrefix(abs, r.Dir+"/") || strings.HasPrefix(r.Dir, abs+"/"))
	return abs, self, nil
}

func samePrefix(a, b string) bool { return strings.Trim(a, "/") == strings.Trim(b, "/") }

// copyOrder ranks object keys: cairn.repo, keys/, (packs), other objects,
// checkpoints/, log/.
func copyOrder(key string) int {
	switch {
	case key == repoFileName:
		return 0
	case strings.HasPrefix(key, "keys/"):
		return 1
	case strings.HasPrefix(key, "checkpoints/"):
		return 4
	case strings.HasPrefix(key, "log/"):
		return 5
	}
	return 3
}

func (r *Repo) replicateTo(ctx context.Context, tgt replicaTarget, rep *ReplicateReport, opts ReplicateOptions) error {
	// What the target holds, and whose it is.
	have := map[string]int64{}
	if err := tgt.objs.ListObjects(ctx, "", func(key string, size int64) error { have[key] = size; return nil }); err != nil {
		return err
	}
	havePacks := map[string]int64{}
	if err := tgt.store.List(ctx, func(name string, size int64) error { havePacks[name] = size; return nil }); err != nil {
		return err
	}
	if _, ok := have[repoFileName]; ok {
		b, err := tgt.objs.GetObject(ctx, repoFileName)
		if err != nil {
			return err
		}
		var rf repoFile
		if json.Unmarshal(b, &rf) != nil || rf.ID != r.id {
			return fmt.Errorf("%w (its %s has id %q, this repository's is %s)", ErrOtherRepository, repoFileName, rf.ID, r.id)
		}
	} else if len(have)+len(havePacks) > 0 {
		return fmt.Errorf("%w: it holds objects but no %s", ErrOtherRepository, repoFileName)
	}

	// What this repository holds.
	type object struct {
		key  string
		size int64
	}
	var objs []object
	err := r.objects.ListObjects(ctx, "", func(key string, size int64) error {
		if !strings.HasPrefix(key, "locks/") { // a lease is this store's, not the replica's
			objs = append(objs, object{key, size})
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(objs, func(i, j int) bool { return copyOrder(objs[i].key) < copyOrder(objs[j].key) })
	var packs []object
	if err := r.store.List(ctx, func(name string, size int64) error { packs = append(packs, object{name, size}); return nil }); err != nil {
		return err
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].key < packs[j].key })

	// What gc removed here goes there too, once everything is copied;
	// planned first, so that a target that was written to is refused
	// before anything changes.
	objSizes, packSizes := map[string]int64{}, map[string]int64{}
	for _, o := range objs {
		objSizes[o.key] = o.size
	}
	for _, p := range packs {
		packSizes[p.key] = p.size
	}
	rows, err := r.db.Packs(ctx)
	if err != nil {
		return err
	}
	cataloged := make(map[string]bool, len(rows))
	for _, pk := range rows {
		cataloged[pk.Name] = true
	}
	prune, err := planReplicaPrune(have, havePacks, objSizes, packSizes, cataloged)
	if err != nil {
		return err
	}
	if err := r.checkDiverged(ctx, tgt, have, objSizes); err != nil {
		return err
	}

	copyObject := func(o object) error {
		if size, ok := have[o.key]; ok {
			if size == o.size {
				rep.PresentObjects++
				return nil
			}
			if o.key == repoFileName {
				return fmt.Errorf("%s has %d bytes on the target and %d here", o.key, size, o.size)
			}
			if err := tgt.objs.DeleteObject(ctx, o.key); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				return fmt.Errorf("replace %s (%d bytes on the target, %d here): %w", o.key, size, o.size, err)
			}
			rep.Replaced = append(rep.Replaced, o.key)
		}
		b, err := r.objects.GetObject(ctx, o.key)
		if errors.Is(err, blobstore.ErrNotFound) {
			return nil // removed since the listing (a key removed, the log pruned)
		}
		if err != nil {
			return err
		}
		if int64(len(b)) != o.size {
			return fmt.Errorf("%s: read %d bytes, listed with %d", o.key, len(b), o.size)
		}
		if err := tgt.objs.PutObject(ctx, o.key, b); err != nil && !errors.Is(err, blobstore.ErrExists) {
			return err
		}
		rep.Objects++
		rep.ObjectBytes += o.size
		if opts.Copied != nil {
			opts.Copied(o.key, o.size)
		}
		return nil
	}
	i := 0
	for ; i < len(objs) && copyOrder(objs[i].key) < 3; i++ {
		if err := copyObject(objs[i]); err != nil {
			return err
		}
	}

	// Every pack before any record: four at a time, each read whole
	// (packs are ~16 MiB), checked against its name, then committed.
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		slots = make(chan struct{}, 4)
	)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, p := range packs {
		if size, ok := havePacks[p.key]; ok {
			if size == p.size {
				rep.PresentPacks++
				continue
			}
			if err := tgt.store.Delete(ctx, p.key); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				return fmt.Errorf("replace pack %s (%d bytes on the target, %d here): %w", p.key, size, p.size, err)
			}
			rep.Replaced = append(rep.Replaced, "packs/"+p.key[:2]+"/"+p.key+".pack")
		}
		select {
		case slots <- struct{}{}:
		case <-pctx.Done():
		}
		if pctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(p object) {
			defer func() { <-slots; wg.Done() }()
			err := copyPack(pctx, r.store, tgt.store, p.key, p.size)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, blobstore.ErrNotFound):
				// deleted since the listing: gc ran before the lock was ours
			case err != nil:
				if first == nil {
					first = err
					cancel()
				}
			default:
				rep.Packs++
				rep.PackBytes += p.size
				if opts.Copied != nil {
					opts.Copied("packs/"+p.key[:2]+"/"+p.key+".pack", p.size)
				}
			}
		}(p)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Then checkpoints, then the log, in key (= seq) order, one at a
	// time: an interrupted copy leaves a prefix of each writer's log.
	for ; i < len(objs); i++ {
		if err := copyObject(objs[i]); err != nil {
			return err
		}
	}
	return pruneReplica(ctx, tgt, prune, rep)
}

// copyPack copies one pack, verifying its bytes against its name.
func copyPack(ctx context.Context, from, to blobstore.Store, name string, size int64) error {
	b := make([]byte, size)
	if err := from.ReadAt(ctx, name, b, 0); err != nil {
		return fmt.Errorf("read pack %s: %w", name, err)
	}
	if got := blobstore.Sum(b).String(); got != name {
		return fmt.Errorf("pack %s: its bytes hash to %s: %w (cairn check --read-data names what it holds)", name, got, blobstore.ErrCorrupt)
	}
	u, err := to.Create(ctx)
	if err != nil {
		return err
	}
	defer u.Abort()
	if _, err := u.Write(b); err != nil {
		return err
	}
	if err := u.Commit(ctx, name); err != nil {
		return fmt.Errorf("write pack %s: %w", name, err)
	}
	return nil
}
