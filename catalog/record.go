package catalog

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Records: every change to a replicated table (meta, source, snapshot,
// pack, chunk, content, version, warning) is one record, built from what
// the catalog holds inside the write transaction, applied by the same
// function that replays it from the log, and appended to the Journal in
// that transaction (journal.go). Applying a record depends only on the
// record and the replicated rows, never on the clock, the local hold table
// or the process: the same records on the same rows give the same rows,
// ids included. Row ids come from max(id)+1 (no table uses AUTOINCREMENT,
// so there is no sqlite_sequence to carry), and a checkpoint restores the
// rows with their ids, so a replay after a checkpoint assigns the ids the
// live catalog assigned.
//
// Ids in records. A record refers to rows of this writer's catalog by id
// where a hash would cost a lookup or 32 bytes per reference: snapshot ids
// (Forget, SetTags, warnings' RefSnapshotID), version ids (Close, Refresh),
// chunk ids (ChunkRef > 0 in a content's list, gc's drops and moves),
// content ids (gc's drops) and pack ids (gc). New chunks and contents are
// always named by hash, and versions name their content by hash (through
// the record's Contents), so content-addressed rows can be matched across
// catalogs. When several writers share a store (REMOTE.md), a writer's ids
// become slot<<40|n with n its own counter and slot 0 itself: snapshot and
// version ids then stay valid as they are (a writer only ever closes its
// own versions and forgets its own snapshots), pack ids likewise name the
// writer's own pack rows, and a chunk or content id found in another
// writer's record is mapped to a local row through the hash that writer's
// earlier record gave it (a replaying catalog keeps that map per writer).

// recordKind says what a record does; stored in its second byte.
type recordKind byte

const (
	kindMeta     recordKind = 1  // InitMeta: repository parameters, set once
	kindSnapshot recordKind = 2  // CommitSnapshot
	kindTags     recordKind = 3  // SetTags
	kindSettings recordKind = 4  // SetSourceSettings, SetPolicy
	kindForget   recordKind = 5  // Forget, ForgetUnheld
	kindDrop     recordKind = 6  // gc's Drop
	kindRepack   recordKind = 7  // gc's Repacked
	kindMissing  recordKind = 8  // SetPacksMissing
	kindJoin     recordKind = 9  // Join: a writer's host name
	kindAdopt    recordKind = 10 // Adopt: a writer continues another's sources
)

// record is one change of the replicated tables.
type record interface {
	kind() recordKind
	// encode appends the body; it must not change the record, and may
	// run while apply does.
	encode(e *encoder)
	// apply makes the change in tx, failing (and leaving the transaction
	// to be rolled back) if it cannot; results go into the record. slot is
	// the record's writer in this catalog (0: this installation), and the
	// record's ids are this catalog's (remapped).
	apply(ctx context.Context, tx *sql.Tx, slot int64) error
	// remap maps every row id of the record into this catalog's slots.
	remap(m *mapper)
}

// encodeRecord is the stored form of rec, with the writer map of the
// catalog that made it (its slots other than 0).
func encodeRecord(rec record, writers []slotWriter) []byte {
	var e encoder
	if r, ok := rec.(*snapshotRecord); ok {
		c := r.Commit
		size := 256 + 48*len(c.NewChunks) + 56*len(c.Contents) + 48*len(c.Versions) + 4*len(c.Close) + 16*len(c.Refresh)
		if size >= streamFrom && recordWriteVersion != 1 {
			return encodeStreamed(rec, writers, size)
		}
		// Room up front spares the copies of a doubling buffer.
		e.b = make([]byte, 0, size)
	}
	if recordWriteVersion == 1 {
		rec.encode(&e)
		b := frameRecord(rec.kind(), e.b)
		b[0] = 1
		return b
	}
	encodeBody(&e, rec, writers)
	return frameRecord(rec.kind(), e.b)
}

// encodeBody writes a version 2 body: the writer map, then rec.
func encodeBody(e *encoder, rec record, writers []slotWriter) {
	e.v2 = true
	e.count(len(writers))
	for _, w := range writers {
		e.uvarint(uint64(w.slot))
		e.str(w.id)
		e.uvarint(uint64(w.seq))
	}
	rec.encode(e)
}

// streamFrom is the estimated body size from which a record is compressed
// as it is encoded (encodeStreamed); a variable so that tests can lower it.
var streamFrom = 1 << 20

// encodeStreamed is encodeRecord for a big record: the body goes through
// zstd a piece at a time as it is encoded, so that it is never held whole
// beside its compressed form. The body of a first snapshot of 1M small
// files is 124 MB (71.6 MB compressed), held until it was compressed. size
// is the body's estimated size. The framing is frameRecord's, with the
// body length (known only at the end) written in front of the frame.
func encodeStreamed(rec record, writers []slotWriter, size int) []byte {
	const room = 3 + binary.MaxVarintLen64
	out := &appendWriter{b: make([]byte, room, room+size/2)}
	zw := streamEncoders.Get().(*zstd.Encoder)
	defer streamEncoders.Put(zw)
	zw.Reset(out)
	e := encoder{b: make([]byte, 0, spillAt+64<<10), w: zw}
	encodeBody(&e, rec, writers)
	e.flush()
	if err := zw.Close(); err != nil {
		panic("catalog: compress a record in memory: " + err.Error()) // an appendWriter never fails
	}
	head := binary.AppendUvarint([]byte{recordVersion, byte(rec.kind()), codecZstd}, uint64(e.n))
	start := room - len(head)
	copy(out.b[start:], head)
	return out.b[start:len(out.b):len(out.b)]
}

// recordWriteVersion is the record version encodeRecord writes; tests set
// 1 to write a log as a cairn before record version 2 did (and the live
// catalog then assigns ids as that cairn did).
var recordWriteVersion = recordVersion

// decodeRecord parses a stored record and its writer map. It never
// panics, whatever the bytes.
func decodeRecord(b []byte) (record, []slotWriter, error) {
	version, kind, body, err := unframeRecord(b)
	if err != nil {
		return nil, nil, err
	}
	var rec interface {
		record
		decode(d *decoder)
	}
	switch kind {
	case kindMeta:
		rec = &metaRecord{}
	case kindSnapshot:
		rec = &snapshotRecord{}
	case kindTags:
		rec = &tagsRecord{}
	case kindSettings:
		rec = &settingsRecord{}
	case kindForget:
		rec = &forgetRecord{}
	case kindDrop:
		rec = &dropRecord{}
	case kindRepack:
		rec = &repackRecord{}
	case kindMissing:
		rec = &missingRecord{}
	case kindJoin:
		rec = &joinRecord{}
	case kindAdopt:
		rec = &adoptRecord{}
	default:
		return nil, nil, fmt.Errorf("%w: unknown kind %d (written by a newer cairn?)", ErrRecord, kind)
	}
	d := decoder{b: body, v2: version >= 2}
	var writers []slotWriter
	if d.v2 {
		n := d.count(3)
		for range n {
			w := slotWriter{slot: int64(d.uvarint()), id: d.str(), seq: int64(d.uvarint())}
			if d.err == nil && (w.slot == 0 || w.slot > math32 || w.id == "") {
				d.fail(fmt.Errorf("writer map entry %d %q", w.slot, w.id))
			}
			writers = append(writers, w)
		}
	}
	rec.decode(&d)
	if err := d.finish(); err != nil {
		return nil, nil, fmt.Errorf("record of kind %d: %w", kind, err)
	}
	return rec, writers, nil
}

// metaRecord sets meta values that are not set yet (InitMeta): the
// repository format, the chunker parameters, the creation time. The first
// record of a log is one, so a catalog rebuilt from the log alone knows
// them; in a format-2 repository they are in cairn.repo as well.
type metaRecord struct {
	Keys, Values []string // sorted by key
	got          map[string]string
}

func (r *metaRecord) kind() recordKind { return kindMeta }

func (r *metaRecord) encode(e *encoder) {
	e.strs(r.Keys)
	e.strs(r.Values)
}

func (r *metaRecord) decode(d *decoder) {
	r.Keys = d.strs()
	r.Values = d.strs()
	if len(r.Keys) != len(r.Values) {
		d.fail(fmt.Errorf("%d keys, %d values", len(r.Keys), len(r.Values)))
	}
}

func (r *metaRecord) remap(*mapper) {}

func (r *metaRecord) apply(ctx context.Context, tx *sql.Tx, _ int64) error {
	r.got = map[string]string{}
	for i, k := range r.Keys {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", k, r.Values[i]); err != nil {
			return err
		}
		var got string
		if err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", k).Scan(&got); err != nil {
			return err
		}
		r.got[k] = got
	}
	return nil
}

// snapshotRecord is a snapshot's commit, with the id the live catalog
// gave it and (record version 2) the ids of the rows it creates. The
// snapshot id's slot is the writer whose source it continues: its own, or
// one it adopted.
type snapshotRecord struct {
	ID int64
	*Commit
	IDs *commitIDs // nil in a version 1 record: assigned when applied
}

// commitIDs are the ids of the rows a snapshot creates: new packs, chunks
// and versions get Base+i, a content ContentIDs[i], or ContentBase+i where
// that is 0.
type commitIDs struct {
	PackBase, ChunkBase, ContentBase, VersionBase int64
	ContentIDs                                    []int64
	// reuseChunks: a chunk whose hash is stored already keeps that row (a
	// version 1 record's meaning, from when chunk.hash was unique).
	reuseChunks bool
}

func (r *snapshotRecord) kind() recordKind { return kindSnapshot }

func (r *snapshotRecord) apply(ctx context.Context, tx *sql.Tx, slot int64) error {
	ids := r.IDs
	if ids == nil {
		var err error
		if ids, err = assignIDs(ctx, tx, r.Commit, slot, true); err != nil {
			return err
		}
	}
	return commit(ctx, tx, r.ID, r.Commit, ids, slot)
}

func (r *snapshotRecord) remap(m *mapper) {
	c := r.Commit
	r.ID = m.id(r.ID)
	for i := range c.Contents {
		for j, ref := range c.Contents[i].Chunks {
			c.Contents[i].Chunks[j] = ChunkRef(m.id(int64(ref)))
		}
	}
	m.ids(c.Close)
	for i := range c.Refresh {
		c.Refresh[i].ID = m.id(c.Refresh[i].ID)
	}
	for i := range c.Warnings {
		c.Warnings[i].RefSnapshotID = m.id(c.Warnings[i].RefSnapshotID)
	}
	if ids := r.IDs; ids != nil {
		ids.PackBase, ids.ChunkBase = m.id(ids.PackBase), m.id(ids.ChunkBase)
		ids.ContentBase, ids.VersionBase = m.id(ids.ContentBase), m.id(ids.VersionBase)
		m.ids(ids.ContentIDs)
	}
}

// Version types as one byte.
var versionTypes = []string{TypeFile, TypeDir, TypeSymlink}

// Bits of a version's flags byte.
const (
	vfJSONValidSet = 1 << iota
	vfJSONValid
	vfJSONEntries
	vfOwner
)

func (r *snapshotRecord) encode(e *encoder) {
	c := r.Commit
	e.varint(r.ID)
	e.str(c.Source)
	started := c.Started.UnixNano()
	e.varint(started)
	e.varint(c.Finished.UnixNano() - started)
	e.str(c.Label)
	e.strs(c.Tags)
	e.varint(c.FileCount)
	e.varint(c.TotalBytes)
	e.varint(c.AddedBytes)
	e.varint(c.Unreadable)

	e.count(len(c.Packs))
	for _, p := range c.Packs {
		e.packName(p.Name)
		e.varint(p.Size)
	}
	e.count(len(c.NewChunks))
	var prevOff int64
	for i := range c.NewChunks {
		e.spill()
		ch := &c.NewChunks[i]
		e.hash(ch.Hash)
		e.uvarint(uint64(ch.Pack))
		e.varint(ch.Offset - prevOff)
		prevOff = ch.Offset
		e.varint(ch.Length)
		e.varint(ch.Size)
		e.varint(ch.PlainOffset)
	}
	e.count(len(c.Contents))
	for i := range c.Contents {
		e.spill()
		ct := &c.Contents[i]
		e.hash(ct.Hash)
		e.varint(ct.Size)
		e.str(ct.Chunking)
		e.count(len(ct.Chunks))
		var prev int64
		for _, ref := range ct.Chunks {
			e.varint(int64(ref) - prev)
			prev = int64(ref)
		}
	}
	e.count(len(c.Versions))
	var prevPath string
	for i := range c.Versions {
		e.spill()
		v := &c.Versions[i]
		// Paths come in walk order: most share a long prefix with the
		// one before.
		common := commonPrefix(prevPath, v.Path)
		e.uvarint(uint64(common))
		e.str(v.Path[common:])
		prevPath = v.Path
		if t := slices.Index(versionTypes, v.Type); t >= 0 {
			e.byte(byte(t))
		} else {
			e.byte(255)
			e.str(v.Type)
		}
		e.uvarint(uint64(v.Mode))
		e.varint(v.Size)
		e.varint(v.MtimeNs)
		e.varint(int64(v.Content))
		if v.Type == TypeSymlink {
			e.str(v.LinkTarget)
		}
		e.str(v.Capture)
		var flags byte
		if v.JSONValid.Valid {
			flags |= vfJSONValidSet
			if v.JSONValid.Bool {
				flags |= vfJSONValid
			}
		}
		if v.JSONEntries.Valid {
			flags |= vfJSONEntries
		}
		owner := v.UID >= 0 && v.GID >= 0
		if owner {
			flags |= vfOwner
		}
		e.byte(flags)
		if v.JSONEntries.Valid {
			e.varint(v.JSONEntries.Int64)
		}
		e.str(v.DBCheck)
		e.varint(v.FpCtimeNs)
		e.uvarint(v.FpIno)
		e.str(v.FpExtra)
		if owner {
			e.varint(v.UID)
			e.varint(v.GID)
		}
	}
	e.ids(c.Close)
	e.count(len(c.Refresh))
	var prevID int64
	for _, f := range c.Refresh {
		e.spill()
		e.varint(f.ID - prevID)
		prevID = f.ID
		e.varint(f.FpCtimeNs)
		e.uvarint(f.FpIno)
		e.str(f.FpExtra)
	}
	e.count(len(c.Warnings))
	for _, w := range c.Warnings {
		e.str(w.Path)
		e.str(w.Kind)
		e.str(w.Message)
		e.varint(w.RefSnapshotID)
	}
	if e.v2 && r.IDs == nil {
		e.byte(0) // ids assigned when applied, as in version 1
	} else if e.v2 {
		ids := r.IDs
		e.byte(1)
		e.varint(ids.PackBase)
		e.varint(ids.ChunkBase)
		e.varint(ids.ContentBase)
		e.varint(ids.VersionBase)
		for _, id := range ids.ContentIDs {
			e.varint(id)
		}
	}
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func (r *snapshotRecord) decode(d *decoder) {
	c := &Commit{}
	r.Commit = c
	r.ID = d.varint()
	c.Source = d.str()
	started := d.varint()
	c.Started = time.Unix(0, started).UTC()
	c.Finished = time.Unix(0, started+d.varint()).UTC()
	c.Label = d.str()
	c.Tags = d.strs()
	c.FileCount = d.varint()
	c.TotalBytes = d.varint()
	c.AddedBytes = d.varint()
	c.Unreadable = d.varint()

	if n := d.count(2); n > 0 {
		c.Packs = make([]NewPack, n)
		for i := range c.Packs {
			c.Packs[i] = NewPack{Name: d.packName(), Size: d.varint()}
		}
	}
	if n := d.count(37); n > 0 {
		c.NewChunks = make([]NewChunk, n)
		var prevOff int64
		for i := range c.NewChunks {
			ch := &c.NewChunks[i]
			ch.Hash = d.hash()
			pack := d.uvarint()
			if d.err == nil && pack >= uint64(len(c.Packs)) {
				d.fail(fmt.Errorf("chunk in pack %d of %d", pack, len(c.Packs)))
			}
			ch.Pack = int(pack)
			prevOff += d.varint()
			ch.Offset = prevOff
			ch.Length = d.varint()
			ch.Size = d.varint()
			ch.PlainOffset = d.varint()
		}
	}
	if n := d.count(35); n > 0 {
		c.Contents = make([]NewContent, n)
		for i := range c.Contents {
			ct := &c.Contents[i]
			ct.Hash = d.hash()
			ct.Size = d.varint()
			ct.Chunking = d.str()
			if m := d.count(1); m > 0 {
				ct.Chunks = make([]ChunkRef, m)
				var prev int64
				for j := range ct.Chunks {
					prev += d.varint()
					if d.err == nil && (prev == 0 || prev < -int64(len(c.NewChunks))) {
						d.fail(fmt.Errorf("chunk reference %d (the commit has %d new chunks)", prev, len(c.NewChunks)))
					}
					ct.Chunks[j] = ChunkRef(prev)
				}
			}
		}
	}
	if n := d.count(13); n > 0 {
		c.Versions = make([]NewVersion, n)
		var prevPath string
		for i := range c.Versions {
			v := &c.Versions[i]
			common := d.uvarint()
			if d.err == nil && common > uint64(len(prevPath)) {
				d.fail(fmt.Errorf("path shares %d bytes with one of %d", common, len(prevPath)))
			}
			if d.err != nil {
				return
			}
			v.Path = prevPath[:common] + d.str()
			prevPath = v.Path
			if t := d.byte(); int(t) < len(versionTypes) {
				v.Type = versionTypes[t]
			} else if t == 255 {
				v.Type = d.str()
			} else {
				d.fail(fmt.Errorf("version type %d", t))
			}
			mode := d.uvarint()
			if d.err == nil && mode > math32 {
				d.fail(fmt.Errorf("mode %#o", mode))
			}
			v.Mode = uint32(mode)
			v.Size = d.varint()
			v.MtimeNs = d.varint()
			content := d.varint()
			if d.err == nil && (content < -1 || content >= int64(len(c.Contents))) {
				d.fail(fmt.Errorf("version of content %d of %d", content, len(c.Contents)))
			}
			v.Content = int(content)
			if v.Type == TypeSymlink {
				v.LinkTarget = d.str()
			}
			v.Capture = d.str()
			flags := d.byte()
			if flags >= vfOwner<<1 {
				d.fail(fmt.Errorf("version flags %#x", flags))
			}
			v.JSONValid = sql.NullBool{Valid: flags&vfJSONValidSet != 0, Bool: flags&vfJSONValid != 0}
			if flags&vfJSONEntries != 0 {
				v.JSONEntries = sql.NullInt64{Valid: true, Int64: d.varint()}
			}
			v.DBCheck = d.str()
			v.FpCtimeNs = d.varint()
			v.FpIno = d.uvarint()
			v.FpExtra = d.str()
			v.UID, v.GID = -1, -1
			if flags&vfOwner != 0 {
				v.UID, v.GID = d.varint(), d.varint()
				if d.err == nil && (v.UID < 0 || v.GID < 0) {
					d.fail(fmt.Errorf("owner %d:%d", v.UID, v.GID))
				}
			}
		}
	}
	c.Close = d.ids()
	if n := d.count(4); n > 0 {
		c.Refresh = make([]Refresh, n)
		var prevID int64
		for i := range c.Refresh {
			f := &c.Refresh[i]
			prevID += d.varint()
			f.ID = prevID
			f.FpCtimeNs = d.varint()
			f.FpIno = d.uvarint()
			f.FpExtra = d.str()
		}
	}
	if n := d.count(4); n > 0 {
		c.Warnings = make([]Warning, n)
		for i := range c.Warnings {
			c.Warnings[i] = Warning{Path: d.str(), Kind: d.str(), Message: d.str(), RefSnapshotID: d.varint()}
		}
	}
	if d.v2 && d.bool01() {
		ids := &commitIDs{PackBase: d.varint(), ChunkBase: d.varint(), ContentBase: d.varint(), VersionBase: d.varint()}
		if len(c.Contents) > 0 {
			ids.ContentIDs = make([]int64, len(c.Contents))
		}
		for i := range ids.ContentIDs {
			ids.ContentIDs[i] = d.varint()
		}
		r.IDs = ids
	}
}

const math32 = 1<<32 - 1

// tagsRecord replaces the tags of snapshots.
type tagsRecord struct {
	IDs  []int64 // ascending
	Tags [][]string
}

func (r *tagsRecord) kind() recordKind { return kindTags }

func (r *tagsRecord) encode(e *encoder) {
	e.ids(r.IDs)
	for _, t := range r.Tags {
		e.strs(t)
	}
}

func (r *tagsRecord) decode(d *decoder) {
	r.IDs = d.ids()
	r.Tags = make([][]string, len(r.IDs))
	for i := range r.Tags {
		r.Tags[i] = d.strs()
	}
}

func (r *tagsRecord) remap(m *mapper) { m.ids(r.IDs) }

func (r *tagsRecord) apply(ctx context.Context, tx *sql.Tx, _ int64) error {
	for i, id := range r.IDs {
		res, err := tx.ExecContext(ctx, "UPDATE snapshot SET tags = ? WHERE id = ?", joinTags(r.Tags[i]), id)
		if err != nil {
			return fmt.Errorf("tag snapshot %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &NoSnapshotError{ID: id}
		}
	}
	return nil
}

// settingsRecord changes settings of a source, creating its row.
type settingsRecord struct {
	Source   string
	Settings SourceSettings
}

func (r *settingsRecord) kind() recordKind { return kindSettings }

const (
	sfPolicy = 1 << iota
	sfRuntime
	sfMassDeletion
	sfExcludes
	sfReplica
)

func (r *settingsRecord) encode(e *encoder) {
	s := &r.Settings
	e.str(r.Source)
	var flags byte
	for i, set := range []bool{s.Policy != nil, s.Runtime != nil, s.MassDeletion != nil, s.Excludes != nil, s.Replica != nil} {
		if set {
			flags |= 1 << i
		}
	}
	e.byte(flags)
	if s.Policy != nil {
		e.str(*s.Policy)
	}
	if s.Runtime != nil {
		e.strs(*s.Runtime)
	}
	if s.MassDeletion != nil {
		e.float(*s.MassDeletion)
	}
	if s.Excludes != nil {
		e.str(*s.Excludes)
	}
	if s.Replica != nil {
		e.str(s.Replica.Target)
		e.str(s.Replica.Endpoint)
	}
}

func (r *settingsRecord) decode(d *decoder) {
	r.Source = d.str()
	flags := d.byte()
	if flags >= sfReplica<<1 {
		d.fail(fmt.Errorf("settings flags %#x", flags))
	}
	s := &r.Settings
	if flags&sfPolicy != 0 {
		p := d.str()
		s.Policy = &p
	}
	if flags&sfRuntime != 0 {
		rt := d.strs()
		s.Runtime = &rt
	}
	if flags&sfMassDeletion != 0 {
		m := d.float()
		s.MassDeletion = &m
	}
	if flags&sfExcludes != 0 {
		x := d.str()
		s.Excludes = &x
	}
	if flags&sfReplica != 0 {
		s.Replica = &Replica{Target: d.str(), Endpoint: d.str()}
	}
}

func (r *settingsRecord) remap(*mapper) {}

func (r *settingsRecord) apply(ctx context.Context, tx *sql.Tx, slot int64) error {
	s := &r.Settings
	id, err := sourceFor(ctx, tx, slot, r.Source, true)
	if err != nil {
		return err
	}
	if s.Policy != nil {
		if _, err := tx.ExecContext(ctx, "UPDATE source SET policy = ? WHERE id = ?", *s.Policy, id); err != nil {
			return err
		}
	}
	if s.Runtime != nil {
		if _, err := tx.ExecContext(ctx, "UPDATE source SET runtime = ? WHERE id = ?", strings.Join(*s.Runtime, "\n"), id); err != nil {
			return err
		}
	}
	if s.Excludes != nil {
		if _, err := tx.ExecContext(ctx, "UPDATE source SET excludes = nullif(?, '') WHERE id = ?", *s.Excludes, id); err != nil {
			return err
		}
	}
	if s.MassDeletion != nil {
		if _, err := tx.ExecContext(ctx, "UPDATE source SET mass_deletion = ? WHERE id = ?", *s.MassDeletion, id); err != nil {
			return err
		}
	}
	if s.Replica != nil {
		if _, err := tx.ExecContext(ctx, "UPDATE source SET replica = nullif(?, ''), replica_endpoint = nullif(?, '') WHERE id = ?",
			s.Replica.Target, s.Replica.Endpoint, id); err != nil {
			return err
		}
	}
	return nil
}

// forgetRecord deletes snapshots, the versions no remaining snapshot
// sees and the contents no version uses. IDs are the snapshots the live
// catalog decided to forget, after its (local) holds kept theirs.
type forgetRecord struct {
	IDs   []int64
	stats ForgetStats
}

func (r *forgetRecord) kind() recordKind  { return kindForget }
func (r *forgetRecord) encode(e *encoder) { e.ids(r.IDs) }
func (r *forgetRecord) decode(d *decoder) { r.IDs = d.ids() }

func (r *forgetRecord) remap(m *mapper) { m.ids(r.IDs) }

func (r *forgetRecord) apply(ctx context.Context, tx *sql.Tx, _ int64) error {
	st := ForgetStats{}
	var sources []int64
	for _, id := range r.IDs {
		var src int64
		err := tx.QueryRowContext(ctx, "SELECT source_id FROM snapshot WHERE id = ?", id).Scan(&src)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return err
		}
		if !slices.Contains(sources, src) {
			sources = append(sources, src)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM snapshot WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete snapshot %d: %w", id, err)
		}
		st.Snapshots++
	}
	for _, src := range sources {
		res, err := tx.ExecContext(ctx, `DELETE FROM version WHERE source_id = ?1 AND NOT EXISTS (
			SELECT 1 FROM snapshot s WHERE s.source_id = ?1 AND s.id >= version.first_snapshot_id
			AND (version.last_snapshot_id IS NULL OR s.id <= version.last_snapshot_id))`, src)
		if err != nil {
			return fmt.Errorf("delete unseen versions: %w", err)
		}
		n, _ := res.RowsAffected()
		st.Versions += int(n)
	}
	n, err := deleteUnusedContents(ctx, tx)
	st.Contents = n
	r.stats = st
	return err
}

// dropRecord is gc deleting unused contents, dead chunks and the packs
// left empty.
type dropRecord struct {
	Contents, Dead, EmptyPacks []int64
	names                      []string
}

func (r *dropRecord) kind() recordKind { return kindDrop }

func (r *dropRecord) encode(e *encoder) {
	e.ids(r.Contents)
	e.ids(r.Dead)
	e.ids(r.EmptyPacks)
}

func (r *dropRecord) decode(d *decoder) {
	r.Contents = d.ids()
	r.Dead = d.ids()
	r.EmptyPacks = d.ids()
}

// remap: gc's records name rows of every writer (the contents, chunks and
// packs it found unused), through the same writer map as any record.
func (r *dropRecord) remap(m *mapper) {
	m.ids(r.Contents)
	m.ids(r.Dead)
	m.ids(r.EmptyPacks)
}

func (r *dropRecord) apply(ctx context.Context, tx *sql.Tx, _ int64) error {
	r.names = nil
	for _, q := range []struct {
		stmt string
		ids  []int64
	}{{"DELETE FROM content WHERE id = ?", r.Contents}, {"DELETE FROM chunk WHERE id = ?", r.Dead}} {
		st, err := tx.PrepareContext(ctx, q.stmt)
		if err != nil {
			return err
		}
		for _, id := range q.ids {
			if _, err := st.ExecContext(ctx, id); err != nil {
				st.Close()
				return fmt.Errorf("%s (%d): %w", q.stmt, id, err)
			}
		}
		st.Close()
	}
	for _, p := range r.EmptyPacks {
		var name string
		err := tx.QueryRowContext(ctx, `DELETE FROM pack WHERE id = ? AND NOT EXISTS (SELECT 1 FROM chunk WHERE pack_id = pack.id)
			RETURNING name`, p).Scan(&name)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete pack %d: %w", p, err)
		}
		r.names = append(r.names, name)
	}
	return nil
}

// repackRecord is gc moving the chunks of old packs into a new one.
type repackRecord struct {
	Old       []int64
	New       NewPack
	NewID     int64 // the new pack's id (record version 2; 0 before)
	CreatedNs int64
	Moves     []Move
	oldNames  []string
}

func (r *repackRecord) kind() recordKind { return kindRepack }

func (r *repackRecord) encode(e *encoder) {
	e.ids(r.Old)
	e.packName(r.New.Name)
	e.varint(r.New.Size)
	e.varint(r.CreatedNs)
	e.count(len(r.Moves))
	var prevChunk, prevOff int64
	for _, m := range r.Moves {
		e.varint(m.ChunkID - prevChunk)
		prevChunk = m.ChunkID
		e.varint(m.FromPack)
		e.varint(m.Offset - prevOff)
		prevOff = m.Offset
		e.varint(m.Length)
		e.varint(m.PlainOffset)
	}
	if e.v2 {
		e.varint(r.NewID)
	}
}

func (r *repackRecord) decode(d *decoder) {
	r.Old = d.ids()
	r.New.Name = d.packName()
	r.New.Size = d.varint()
	r.CreatedNs = d.varint()
	if n := d.count(5); n > 0 {
		r.Moves = make([]Move, n)
		var prevChunk, prevOff int64
		for i := range r.Moves {
			m := &r.Moves[i]
			prevChunk += d.varint()
			m.ChunkID = prevChunk
			m.FromPack = d.varint()
			prevOff += d.varint()
			m.Offset = prevOff
			m.Length = d.varint()
			m.PlainOffset = d.varint()
		}
	}
	if d.v2 {
		r.NewID = d.varint()
	}
}

func (r *repackRecord) remap(m *mapper) {
	m.ids(r.Old)
	r.NewID = m.id(r.NewID)
	for i := range r.Moves {
		r.Moves[i].ChunkID = m.id(r.Moves[i].ChunkID)
		r.Moves[i].FromPack = m.id(r.Moves[i].FromPack)
	}
}

func (r *repackRecord) apply(ctx context.Context, tx *sql.Tx, slot int64) error {
	r.oldNames = nil
	newID := r.NewID
	if newID == 0 { // a version 1 record: the id it got then
		var err error
		if newID, err = nextIn(ctx, tx, "pack", slot, false); err != nil {
			return err
		}
	} else if err := raiseHigh(ctx, tx, "pack", newID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO pack(id, name, size, created_ns) VALUES (?, ?, ?, ?)",
		newID, r.New.Name, r.New.Size, r.CreatedNs)
	if err != nil {
		return fmt.Errorf("insert pack %s: %w", r.New.Name, err)
	}
	st, err := tx.PrepareContext(ctx, "UPDATE chunk SET pack_id = ?, offset = ?, length = ?, plain_offset = ? WHERE id = ? AND pack_id = ?")
	if err != nil {
		return err
	}
	defer st.Close()
	for _, m := range r.Moves {
		res, err := st.ExecContext(ctx, newID, m.Offset, m.Length, m.PlainOffset, m.ChunkID, m.FromPack)
		if err != nil {
			return fmt.Errorf("move chunk %d: %w", m.ChunkID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("move chunk %d: it is no longer in pack %d", m.ChunkID, m.FromPack)
		}
	}
	for _, old := range r.Old {
		var name string
		err = tx.QueryRowContext(ctx, `DELETE FROM pack WHERE id = ? AND NOT EXISTS (SELECT 1 FROM chunk WHERE pack_id = pack.id)
			RETURNING name`, old).Scan(&name)
		if err == sql.ErrNoRows {
			return fmt.Errorf("pack %d still holds chunks after the repack", old)
		}
		if err != nil {
			return fmt.Errorf("delete pack %d: %w", old, err)
		}
		r.oldNames = append(r.oldNames, name)
	}
	return nil
}

// missingRecord marks packs missing from the store, or present again.
type missingRecord struct {
	Now              int64
	Missing, Present []string
}

func (r *missingRecord) kind() recordKind { return kindMissing }

func (r *missingRecord) encode(e *encoder) {
	e.varint(r.Now)
	e.strs(r.Missing)
	e.strs(r.Present)
}

func (r *missingRecord) decode(d *decoder) {
	r.Now = d.varint()
	r.Missing = d.strs()
	r.Present = d.strs()
}

func (r *missingRecord) remap(*mapper) {}

func (r *missingRecord) apply(ctx context.Context, tx *sql.Tx, _ int64) error {
	// The earliest time two writers found it missing, in whatever order
	// their records come.
	for _, name := range r.Missing {
		if _, err := tx.ExecContext(ctx, "UPDATE pack SET missing_ns = ?1 WHERE name = ?2 AND (missing_ns IS NULL OR missing_ns > ?1)", r.Now, name); err != nil {
			return fmt.Errorf("record pack %s missing: %w", name, err)
		}
	}
	for _, name := range r.Present {
		if _, err := tx.ExecContext(ctx, "UPDATE pack SET missing_ns = NULL WHERE name = ?", name); err != nil {
			return fmt.Errorf("record pack %s present: %w", name, err)
		}
	}
	return nil
}
