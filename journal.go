package cairn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/keys"
	"github.com/cairn-dev/cairn/metalog"
)

// openFormat2 opens a format-2 repository's objects, keys, log and
// catalog. A catalog that is missing or damaged is rebuilt from the log,
// and records an interrupted command wrote but did not apply are applied.
func (r *Repo) openFormat2(ctx context.Context, opts Options) error {
	if err := r.openLog(ctx, opts); err != nil {
		return err
	}
	path := r.catalogPath()
	why := catalogUnusable(path)
	var db *catalog.DB
	var err error
	if why == "missing" || why == "empty" {
		// A new repository, one whose creation was interrupted before
		// anything was written, or one another process is creating right
		// now (its catalog file exists, still empty): nothing to rebuild,
		// nothing to say. A catalog with records behind it is never
		// empty: rebuilds rename a complete file into place.
		if empty, err := r.logEmpty(ctx); err != nil {
			return err
		} else if empty {
			// Packs but no log: the log is gone (a new repository writes
			// its first record before any pack). A new catalog would make
			// every pack an orphan for gc to delete.
			// Packs of other writers are theirs: this is a new writer.
			if packs, _ := filepath.Glob(filepath.Join(r.Dir, "packs", "*", "*.pack")); len(packs) > 0 && !r.othersHaveLogs(ctx) {
				return fmt.Errorf("%s: the catalog is %s and the log has neither a record nor a checkpoint of writer %s, but packs/ holds %s; refusing to start a new catalog over them (put back log/ and checkpoints/ from a copy)",
					r.Dir, why, r.log.Writer(), count(len(packs), "pack"))
			}
			why = ""
		}
	}
	if why == "" {
		if r.readOnly {
			db, err = catalog.OpenReadOnly(ctx, path)
		} else {
			db, err = catalog.Open(ctx, path, true)
		}
		if err != nil && (errors.Is(err, catalog.ErrDamaged) || errors.Is(err, catalog.ErrNotCatalog)) {
			// In local/ a file that is not a sound catalog is damage, not
			// someone else's database: the log has what it held.
			why, db = fmt.Sprintf("damaged (%s)", damageReason(err, path)), nil
		} else if err != nil {
			return catalogError(r.Dir, err)
		}
	}
	if why != "" {
		if r.readOnly {
			return fmt.Errorf("%s: the catalog is %s and the repository is read-only; cairn repair catalog, run with write access, rebuilds it from the log", r.Dir, why)
		}
		if _, err := r.rebuildCatalog(ctx, why); err != nil {
			return err
		}
		if db, err = openCatalog(ctx, r.Dir, path, false, false); err != nil {
			return err
		}
	}
	r.db = db
	if err := db.SetWriter(ctx, r.log.Writer()); err != nil {
		db.Close()
		return fmt.Errorf("%s: %w", r.Dir, err)
	}
	if !r.readOnly {
		db.SetJournal(r.journal())
		var n int
		var err error
		if r.ownLogAhead(ctx, db) {
			n, err = db.CatchUp(ctx)
		}
		if errors.Is(err, catalog.ErrDependency) {
			// A gc record of this writer's names rows of another writer's
			// records not applied here yet: apply every log, in order.
			err = r.catchUpOthers(ctx)
		}
		if err != nil && errors.Is(err, metalog.ErrGap) {
			// The catalog may be older than the log's newest checkpoint
			// (a copy put back after the records it needs were removed):
			// a rebuild starts from that checkpoint. A log that is really
			// damaged fails the rebuild, and the file stays as it is.
			if behind, why := r.catalogBehind(ctx, db); behind {
				db.Close()
				r.db = nil
				if err := r.rebuildBehind(ctx, why); err != nil {
					return err
				}
				if db, err = openCatalog(ctx, r.Dir, path, false, false); err != nil {
					return err
				}
				r.db = db
				db.SetJournal(r.journal())
				n, err = db.CatchUp(ctx)
			}
		}
		if err != nil {
			db.Close()
			return fmt.Errorf("%s: apply the log to the catalog: %w", r.Dir, err)
		}
		if n > 0 {
			r.notify(fmt.Sprintf("applied %s that an interrupted command had written to the log; nothing is lost", count(n, "record")))
		}
	}
	if !r.readOnly {
		// The other writers' logs: at every Open but a snapshot's (see
		// CatchUpMode), and before anything is written by a catalog that
		// has just been made (a new writer's meta must come from the
		// repository's first writer, not be recorded again).
		fresh := why != ""
		if !fresh {
			applied, _ := db.AppliedSeq(ctx)
			fresh = applied == 0
		}
		if opts.CatchUp == CatchUpAlways || fresh || (opts.CatchUp == CatchUpDue && r.catchUpDue()) {
			err := r.catchUpOthers(ctx)
			if err != nil && errors.Is(err, metalog.ErrGap) {
				// Another writer pruned records this catalog has not
				// applied (its prune limit counts only writers with a
				// checkpoint, and this one may have none): a rebuild
				// starts from a checkpoint that covers them.
				if behind, why := r.behindOthers(ctx, db); behind {
					db.Close()
					r.db = nil
					if err = r.rebuildBehind(ctx, why); err == nil {
						db, err = openCatalog(ctx, r.Dir, path, false, false)
					}
					if err != nil {
						return err
					}
					r.db = db
					if err = db.SetWriter(ctx, r.log.Writer()); err == nil {
						db.SetJournal(r.journal())
						err = r.catchUpOthers(ctx)
					}
				}
			}
			if err != nil {
				db.Close()
				return err
			}
		}
	}
	if err := r.loadMeta(ctx, r.Params, RepositoryFormat); err != nil {
		db.Close()
		return err
	}
	if !r.readOnly {
		// A writer records its host name, so that a new installation on
		// this host can continue its log and other writers can name its
		// snapshots: a new writer at once, and so does the writer of a
		// repository an older cairn wrote, which has none. Without it, a
		// second host's first installation would take that writer for
		// its own (writerID: the only writer, no host name) and the two
		// hosts would write one log, their sources of one path one source.
		if ws, _ := db.Writers(ctx); len(ws) > 0 && ws[0].Slot == 0 && ws[0].Host == "" {
			if err := r.join(ctx); err != nil {
				db.Close()
				return err
			}
		}
	}
	return nil
}

// catalogBehind reports whether db has applied fewer records than the
// log's newest checkpoint covers, and says so in words.
func (r *Repo) catalogBehind(ctx context.Context, db *catalog.DB) (bool, string) {
	applied, err := db.AppliedSeq(ctx)
	if err != nil {
		return false, ""
	}
	cps, err := r.log.Checkpoints(ctx)
	if err != nil || len(cps) == 0 || cps[len(cps)-1].Seq <= applied {
		return false, ""
	}
	return true, fmt.Sprintf("behind the log (it had applied record %d, the log's newest checkpoint covers %d)", applied, cps[len(cps)-1].Seq)
}

// behindOthers reports whether db has applied less of another writer's
// log than that writer still holds: its first record comes after the
// next one db needs (pruned behind a checkpoint). It says so in words.
func (r *Repo) behindOthers(ctx context.Context, db *catalog.DB) (bool, string) {
	ws, err := metalog.Writers(ctx, r.objects)
	if err != nil {
		return false, ""
	}
	for _, w := range ws {
		if w == r.log.Writer() {
			continue
		}
		l, err := metalog.New(r.objects, r.keys, r.id, w)
		if err != nil {
			continue
		}
		applied := appliedOf(ctx, db, w) // 0 for a writer db never met
		es, err := l.Records(ctx)
		if err != nil || len(es) == 0 || es[0].Seq <= applied+1 {
			continue
		}
		if cps, err := l.Checkpoints(ctx); err == nil && len(cps) > 0 {
			return true, fmt.Sprintf("behind the log of writer %s (it had applied record %d, the log now starts at %d)", w, applied, es[0].Seq)
		}
	}
	return false, ""
}

// rebuildBehind rebuilds a catalog that catalogBehind or behindOthers
// found behind the log, under the repository lock, unless another
// process did meanwhile.
func (r *Repo) rebuildBehind(ctx context.Context, why string) error {
	lock, err := repolock.Acquire(ctx, filepath.Join(r.localDir, "lock"), repolock.Exclusive, "repository lock", r.waiting)
	if err != nil {
		return err
	}
	defer lock.Release()
	db, err := catalog.OpenReadOnly(ctx, r.catalogPath())
	if err == nil {
		behind, _ := r.catalogBehind(ctx, db)
		if !behind {
			behind, _ = r.behindOthers(ctx, db)
		}
		db.Close()
		if !behind {
			return nil
		}
	}
	_, err = r.rebuildLocked(ctx, why)
	return err
}

// catchUpLocked applies the records appended since Open, for a command
// that has just taken the repository lock exclusive and plans on the
// whole catalog.
func (r *Repo) catchUpLocked(ctx context.Context) error {
	if r.log == nil || r.readOnly || r.db == nil {
		return nil
	}
	n, err := r.db.CatchUp(ctx)
	if err != nil {
		return fmt.Errorf("%s: apply the log to the catalog: %w", r.Dir, err)
	}
	if n > 0 {
		r.notify(fmt.Sprintf("applied %s that an interrupted command had written to the log; nothing is lost", count(n, "record")))
	}
	// And every other writer's: what gc (or a forget) decides must count
	// the rows of every writer.
	return r.catchUpOthers(ctx)
}

// openLog reads cairn.repo, unlocks the master key and opens this
// installation's log.
func (r *Repo) openLog(ctx context.Context, opts Options) error {
	if r.objects == nil {
		objs, err := blobstore.NewLocalObjects(r.Dir, r.tmpDir())
		if err != nil {
			return fmt.Errorf("open repository %s: %w", r.Dir, err)
		}
		r.objects = objs
	}
	objs := r.objects
	if r.id == "" { // a remote repository's was read to find its cache
		rf, params, err := readRepoFile(ctx, r.Dir, objs)
		if err != nil {
			return err
		}
		r.id, r.Params = rf.ID, params
	}
	var err error
	// unlock's errors name the repository already ("wrong password for
	// repository DIR"); the keyring stays for the key methods (key.go).
	if r.remote {
		r.keyring, err = r.unlockRemote(ctx, opts)
	} else {
		r.keyring, err = unlock(ctx, objs, r.localDir, r.id, opts)
	}
	if err != nil {
		return err
	}
	if r.keys, err = keys.Derive(r.keyring.master); err != nil {
		return err
	}
	writer, err := writerID(ctx, objs, r.localDir, r.readOnly, func(w string) string { return r.writerHost(ctx, w) })
	if err != nil {
		return fmt.Errorf("%s: %w", r.Dir, err)
	}
	if r.log, err = metalog.New(objs, r.keys, r.id, writer); err != nil {
		return fmt.Errorf("%s: %w", r.Dir, err)
	}
	return nil
}

// othersHaveLogs reports whether a writer other than this one has a log.
func (r *Repo) othersHaveLogs(ctx context.Context) bool {
	ws, err := metalog.Writers(ctx, r.objects)
	return err == nil && slices.ContainsFunc(ws, func(w string) bool { return w != r.log.Writer() })
}

// writerHost is the host name writer w's join record gives, "" when its
// first records hold none (a writer a new installation may continue).
func (r *Repo) writerHost(ctx context.Context, w string) string {
	l, err := metalog.New(r.objects, r.keys, r.id, w)
	if err != nil {
		return ""
	}
	// The join record is among a new writer's first records (after the
	// repository's meta record). A writer of an older repository wrote it
	// later (its first Open by this cairn): then the rest of its log is
	// read, once, by an installation that is about to rebuild its catalog
	// from these records anyway.
	for seq := int64(1); seq <= 3; seq++ {
		b, err := l.Read(ctx, seq)
		if err != nil {
			break
		}
		if h, ok := catalog.RecordHost(b); ok {
			return h
		}
	}
	es, err := l.Records(ctx)
	if err != nil {
		return ""
	}
	if len(es) > 0 && es[0].Seq > 1 {
		// Pruned: the newest checkpoint has the writer's host name.
		if _, state, _, err := l.Start(ctx); err == nil && state != nil {
			if h := catalog.CheckpointHost(state); h != "" {
				return h
			}
		}
	}
	for _, e := range es {
		if e.Seq <= 3 {
			continue
		}
		b, err := l.Read(ctx, e.Seq)
		if err != nil {
			return ""
		}
		if h, ok := catalog.RecordHost(b); ok {
			return h
		}
	}
	return ""
}

// catalogUnusable says why the catalog file at path cannot be used as it
// is ("missing", "empty", "damaged (...)"), or "" when it may be opened.
// Damage further in shows when SQLite opens it (a damaged header or
// schema), or in cairn check's integrity_check, which reads every page.
func catalogUnusable(path string) string {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "missing"
	}
	if err != nil || fi.Size() >= 100 {
		return ""
	}
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		return "" // SQLite recovers the database from its WAL
	}
	if fi.Size() == 0 {
		return "empty"
	}
	return fmt.Sprintf("damaged (%d bytes, less than a SQLite header)", fi.Size())
}

// damageReason is what the catalog said about a damaged file, without
// its path and sentinels, which the message around it already says.
func damageReason(err error, path string) string {
	msg := err.Error()
	for _, sentinel := range []error{catalog.ErrDamaged, catalog.ErrNotCatalog} {
		msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
	}
	if i := strings.Index(msg, path); i >= 0 {
		msg = strings.TrimSpace(msg[i+len(path):])
	}
	msg = strings.TrimSuffix(msg, "; restore catalog.db from a copy, the packs are intact")
	msg = strings.TrimPrefix(msg, "is ")
	if inner, ok := strings.CutPrefix(msg, "damaged ("); ok && strings.HasSuffix(inner, ")") {
		msg = strings.TrimSuffix(inner, ")")
	}
	return firstProblem(msg)
}

// firstProblem shortens integrity_check's list ("a; b; c") to its first
// item and a count, to keep the message one readable line.
func firstProblem(msg string) string {
	msg = strings.TrimPrefix(msg, catalog.ErrCatalogDamaged.Error()+": ")
	items := strings.Split(msg, "; ")
	if len(items) <= 1 {
		return msg
	}
	return fmt.Sprintf("%s, and %d more problems", items[0], len(items)-1)
}

// killAfterAppendEnv names the crash tests' hook: with it set to N, the
// process SIGKILLs itself right after its Nth record is durable, before
// the catalog transaction that applies it commits, the one moment random
// kills rarely hit.
const killAfterAppendEnv = "CAIRN_CRASHTEST_KILL_AFTER_APPEND"

// journal is the log as the catalog's journal, counting the records this
// process appends (checkpointIfDue): the log itself, or, for the crash
// tests, the log wrapped in the hook above.
func (r *Repo) journal() catalog.Journal {
	var j catalog.Journal = r.log
	if n, err := strconv.Atoi(os.Getenv(killAfterAppendEnv)); err == nil && n > 0 {
		j = &killingJournal{Log: r.log, after: n}
	}
	if r.remote {
		j = &markingJournal{Journal: j, dir: filepath.Join(r.localDir, appendingName), before: r.confirmKeysBeforeWrite}
	}
	return &countingJournal{Journal: j, n: &r.appendedRecords}
}

// appendingName is the directory in local/ of a repository in a bucket
// that says which records of this installation's log may be in the store
// without the catalog having applied them: an empty file named by the
// record's seq, made durable before the record is stored. Open reads the
// log only when a file there names a seq past what the catalog applied
// (a process that died between the two, or one appending right now, or a
// catalog.db put back from an older copy): a GET and a LIST saved at every
// other Open. Open and Close remove the files of records the catalog has
// applied, but the newest. A catalog behind its log with no file to say
// so (the whole cache put back from an older copy) is caught up with the
// other writers' logs, every CatchUpInterval, which reads this one too;
// until then its next snapshot fails (its record's seq is taken) and
// leaves a file that makes the next Open catch up.
const appendingName = "appending"

// markingJournal makes the file of appendingName before each Append.
// Before it, before, a check that the repository is still the one the
// copy of its key files says (confirmKeysBeforeWrite).
type markingJournal struct {
	catalog.Journal
	dir    string
	before func(context.Context) error
}

func (m *markingJournal) Append(ctx context.Context, seq int64, rec []byte) error {
	if err := m.before(ctx); err != nil {
		return err
	}
	if err := createLocalFile(m.dir, strconv.FormatInt(seq, 10), ""); err != nil {
		return fmt.Errorf("mark record %d as being appended: %w", seq, err)
	}
	return m.Journal.Append(ctx, seq, rec)
}

// ownLogAhead reports whether this installation's log may hold records
// the catalog has not applied, removing the marks of those it has. Only
// a repository in a bucket keeps marks; a directory's log is read at
// every Open (a stat and a readdir, no requests).
func (r *Repo) ownLogAhead(ctx context.Context, db *catalog.DB) bool {
	if !r.remote {
		return true
	}
	applied, err := db.AppliedSeq(ctx)
	if err != nil {
		return true
	}
	return r.clearMarks(applied)
}

// clearMarks removes the marks of records at or before applied, but the
// newest, and reports whether that one is after it. The newest stays as
// the highest seq this installation knows it stored: a catalog.db put
// back from an older copy has applied less, and Open reads the log.
func (r *Repo) clearMarks(applied int64) (ahead bool) {
	dir := filepath.Join(r.localDir, appendingName)
	es, err := os.ReadDir(dir)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	var seqs []int64
	for _, e := range es {
		if seq, err := strconv.ParseInt(e.Name(), 10, 64); err == nil {
			seqs = append(seqs, seq) // not createLocalFile's temporary files
		}
	}
	if len(seqs) == 0 {
		return false
	}
	newest := slices.Max(seqs)
	if !r.readOnly {
		for _, seq := range seqs {
			if seq <= applied && seq != newest {
				os.Remove(filepath.Join(dir, strconv.FormatInt(seq, 10)))
			}
		}
	}
	return newest > applied
}

type countingJournal struct {
	catalog.Journal
	n *atomic.Int64

	// The record of an Append that failed: the catalog reads it back
	// (catalog's stored) and commits when the store holds it all the
	// same (every attempt's response lost), and that is a record written.
	mu         sync.Mutex
	failedSeq  int64
	failedBody []byte
}

func (c *countingJournal) Append(ctx context.Context, seq int64, rec []byte) error {
	if err := c.Journal.Append(ctx, seq, rec); err != nil {
		c.mu.Lock()
		c.failedSeq, c.failedBody = seq, rec
		c.mu.Unlock()
		return err
	}
	c.n.Add(1)
	return nil
}

func (c *countingJournal) Read(ctx context.Context, seq int64) ([]byte, error) {
	b, err := c.Journal.Read(ctx, seq)
	if err == nil {
		c.mu.Lock()
		if c.failedBody != nil && seq == c.failedSeq && bytes.Equal(b, c.failedBody) {
			c.n.Add(1)
			c.failedBody = nil
		}
		c.mu.Unlock()
	}
	return b, err
}

type killingJournal struct {
	*metalog.Log
	after, appended int
}

func (k *killingJournal) Append(ctx context.Context, seq int64, rec []byte) error {
	if err := k.Log.Append(ctx, seq, rec); err != nil {
		return err
	}
	if k.appended++; k.appended == k.after {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	return nil
}

// logEmpty reports whether this installation's log has neither a record
// nor a checkpoint.
func (r *Repo) logEmpty(ctx context.Context) (bool, error) {
	last, err := r.log.LastSeq(ctx)
	if err != nil || last > 0 {
		return false, err
	}
	cps, err := r.log.Checkpoints(ctx)
	return len(cps) == 0, err
}

// catalogOpens reports whether the catalog at path opens.
func catalogOpens(ctx context.Context, path string) bool {
	db, err := catalog.OpenReadOnly(ctx, path)
	if err != nil {
		return false
	}
	db.Close()
	return true
}

// count is n and word, plural when n is not 1.
func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// ErrLogDamaged means the catalog had to be rebuilt from the log and the
// log is damaged: a record missing, altered or moved.
var ErrLogDamaged = errors.New("the repository's log is damaged, so the catalog cannot be rebuilt from it")

// RebuildReport says what a rebuild of the catalog did.
type RebuildReport struct {
	// Checkpoint is the seq of the checkpoint it started from, 0 for none.
	Checkpoint int64
	// Applied is the seq of the last record applied.
	Applied int64
	// Snapshots is how many snapshots the rebuilt catalog holds.
	Snapshots int
	// Aside is where the old catalog file was moved, "" when there was none.
	Aside string
	// Catalog is the rebuilt catalog file (in the cache, for a repository
	// in a bucket).
	Catalog string
	// Skipped are the checkpoints that failed to open, newest first.
	Skipped []error
}

// rebuildCatalog rebuilds catalog.db from the newest checkpoint and the
// log, under the repository lock held exclusive. The old file, if any, is
// renamed aside (never deleted). why is said on stderr; "" rebuilds on
// demand (cairn repair catalog) even when the catalog looks fine.
func (r *Repo) rebuildCatalog(ctx context.Context, why string) (*RebuildReport, error) {
	if err := os.MkdirAll(r.localDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", r.localDir, err)
	}
	lock, err := repolock.Acquire(ctx, filepath.Join(r.localDir, "lock"), repolock.Exclusive, "repository lock", r.waiting)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if why != "" && catalogUnusable(r.catalogPath()) == "" && catalogOpens(ctx, r.catalogPath()) {
		return &RebuildReport{}, nil // another process rebuilt it meanwhile
	}
	return r.rebuildLocked(ctx, why)
}

// rebuildLocked is rebuildCatalog for a caller that holds the repository
// lock exclusive and has closed the catalog.
func (r *Repo) rebuildLocked(ctx context.Context, why string) (*RebuildReport, error) {
	path := r.catalogPath()
	rep, err := r.rebuildInto(ctx, path+".rebuilt")
	if err != nil {
		if errors.Is(err, keys.ErrAuth) || errors.Is(err, metalog.ErrGap) || errors.Is(err, metalog.ErrCorrupt) || errors.Is(err, catalog.ErrRecord) {
			return nil, fmt.Errorf("%s: %w: %w", r.Dir, ErrLogDamaged, err)
		}
		return nil, fmt.Errorf("%s: %w", r.Dir, err)
	}
	rep.Catalog = path
	if _, err := os.Stat(path); err == nil {
		rep.Aside = asideName(path, r.now())
		if err := os.Rename(path, rep.Aside); err != nil {
			return nil, fmt.Errorf("move the old catalog aside: %w", err)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Rename(path+suffix, rep.Aside+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("move the old catalog aside: %w", err)
			}
		}
	}
	if err := os.Rename(path+".rebuilt", path); err != nil {
		return nil, fmt.Errorf("install the rebuilt catalog: %w", err)
	}
	if err := syncDir(r.localDir); err != nil {
		return nil, fmt.Errorf("install the rebuilt catalog: %w", err)
	}
	if why != "" {
		msg := fmt.Sprintf("the catalog was %s: rebuilt it from the repository's log (%s, up to record %d)", why, count(rep.Snapshots, "snapshot"), rep.Applied)
		if rep.Aside != "" {
			msg += "; the old file is " + rep.Aside
		}
		r.notify(msg)
	}
	return rep, nil
}

// asideName is a free name for the old catalog: path.<time>.old, with -2,
// -3... when a rebuild in the same second already took it.
func asideName(path string, now time.Time) string {
	base := fmt.Sprintf("%s.%s", path, now.UTC().Format("20060102T150405Z"))
	name := base + ".old"
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d.old", base, i)
	}
}

// rebuildInto builds a catalog from checkpoint + log at path (replacing
// a leftover of an interrupted rebuild), closes it and reports.
func (r *Repo) rebuildInto(ctx context.Context, path string) (*RebuildReport, error) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	seq, state, skipped, err := r.log.Start(ctx)
	if err != nil {
		return nil, err
	}
	var db *catalog.DB
	var base string
	if state == nil {
		// No checkpoint of this writer's: where another writer's log was
		// pruned, its newest checkpoint is the start (docs/design.md).
		if base, state, err = r.foreignBase(ctx); err != nil {
			return nil, err
		}
	}
	if base != "" {
		db, err = catalog.RebuildFrom(ctx, path, bytes.NewReader(state), base, r.log.Writer(), r.log)
	} else {
		var cp io.Reader
		if state != nil {
			cp = bytes.NewReader(state)
		}
		db, err = catalog.Rebuild(ctx, path, cp, prefetching(ctx, r.log, seq), r.log.Writer())
	}
	if err != nil {
		return nil, err
	}
	rep := &RebuildReport{Checkpoint: seq, Skipped: skipped}
	// Then every other writer's log, so that the rebuilt catalog holds
	// every writer's rows.
	if err = db.SetWriter(ctx, r.log.Writer()); err == nil {
		err = r.catchUpInto(ctx, db)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if rep.Applied, err = db.AppliedSeq(ctx); err == nil {
		err = db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM snapshot").Scan(&rep.Snapshots)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// checkpointIfDue writes a checkpoint of the log when this process wrote
// records and enough have accumulated since the last one. It runs after
// the command's work, in a read transaction, outside every lock, so that a
// snapshot never waits for it; a failure only costs replay time later.
func (r *Repo) checkpointIfDue(ctx context.Context) {
	if r.log == nil || r.readOnly || r.db == nil || r.log.Appended() == 0 {
		return
	}
	applied, err := r.db.AppliedSeq(ctx)
	if err != nil {
		return
	}
	if !r.mayBeDue(applied) {
		return
	}
	due, err := r.log.Due(ctx, applied)
	if err != nil || !due {
		return
	}
	if _, err := r.log.WriteCheckpoint(ctx, func(w io.Writer) (int64, error) { return r.db.DumpState(ctx, w) }); err != nil {
		r.notify(fmt.Sprintf("could not write a checkpoint of the log (%v); the next command tries again", err))
	}
}

// mayBeDue says whether asking the log if a checkpoint is due is worth
// its requests (two LISTs, on S3 the whole cost of an unchanged snapshot
// beside its one PUT): only when this process's records crossed a
// multiple of 32 seqs, or it appended a 64th of the checkpoint's byte
// threshold. A checkpoint then comes at most 31 records late.
func (r *Repo) mayBeDue(applied int64) bool {
	step := min(32, metalog.RecordsPerCheckpoint)
	if step <= 1 {
		return true
	}
	first := applied - r.appendedRecords.Load() + 1
	if (first-1)/step != applied/step {
		return true
	}
	return r.log.Appended() >= max(1, metalog.BytesPerCheckpoint/64)
}

// pruneLog removes the records and checkpoints that the newest two
// checkpoints supersede (gc's part in the log).
//
// With other writers, no further than the seq of this writer that every
// other writer's newest checkpoint covers (pruneLimit): a rebuild from any
// of them stays possible.
func (r *Repo) pruneLog(ctx context.Context) (metalog.PruneReport, error) {
	if r.log == nil || r.readOnly {
		return metalog.PruneReport{}, nil
	}
	limit, err := r.pruneLimit(ctx)
	if err != nil {
		return metalog.PruneReport{}, err
	}
	return r.log.PruneUpTo(ctx, limit)
}
