package metalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/keys"
)

// Sentinel errors of the log. Missing objects wrap blobstore.ErrNotFound,
// a seq taken wraps blobstore.ErrExists, and a record or checkpoint that
// fails to open wraps keys.ErrAuth.
var (
	// ErrGap reports a record missing while later ones exist: the chain is
	// broken and replay must stop with an error rather than end there.
	ErrGap = errors.New("metalog: record missing in the middle of the log")
	// ErrCorrupt reports a record that authenticates but cannot be decoded.
	ErrCorrupt = errors.New("metalog: corrupt record")
)

// Codec bytes in front of a record's plaintext.
const (
	codecRaw  = 0
	codecZstd = 1
)

// minCompress is the smallest record worth trying zstd on: below it the
// frame header costs more than it saves.
const minCompress = 256

// Log is the log of one writer of one repository. It implements the
// catalog's Journal (Append, Read). It is safe for concurrent use.
type Log struct {
	objs   blobstore.Objects
	keys   *keys.Set
	repoID string
	writer string

	mu       sync.Mutex
	appended int64 // bytes this process appended, for Due
}

// New returns the log of writer in the repository repoID. The writer id and
// the repository id are made of [a-z0-9] (the repository creates them).
func New(objs blobstore.Objects, ks *keys.Set, repoID, writer string) (*Log, error) {
	if !validID(writer) {
		return nil, fmt.Errorf("metalog: bad writer id %q", writer)
	}
	if !validID(repoID) {
		return nil, fmt.Errorf("metalog: bad repository id %q", repoID)
	}
	if ks == nil {
		return nil, errors.New("metalog: no keys")
	}
	return &Log{objs: objs, keys: ks, repoID: repoID, writer: writer}, nil
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Writer is the writer id whose log this is.
func (l *Log) Writer() string { return l.writer }

// RecordKey is the object key of a writer's record seq.
func RecordKey(writer string, seq int64) string {
	return fmt.Sprintf("log/%s/%020d", writer, seq)
}

// CheckpointKey is the object key of a writer's checkpoint after seq.
func CheckpointKey(writer string, seq int64) string {
	return fmt.Sprintf("checkpoints/%s/%020d", writer, seq)
}

// Writers lists the writers that have a log in objs, in key order: records
// or checkpoints (a log re-based by a repair, or the first one of an
// upgraded repository, has a checkpoint and no record).
func Writers(ctx context.Context, objs blobstore.Objects) ([]string, error) {
	ends, err := WriterEnds(ctx, objs)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(ends)), nil
}

// WriterEnds lists the writers as Writers does, each with the seq of its
// newest record (0 for a log of checkpoints only), from the same two
// listings.
func WriterEnds(ctx context.Context, objs blobstore.Objects) (map[string]int64, error) {
	return ListLogs(ctx, objs, nil)
}

// afterLister lists the keys after start across prefixes, in key order,
// in as few requests as its pages allow (s3store.Store): checkpoints/ and
// log/, with gc/, keys/ and locks/ between them, in one LIST.
type afterLister interface {
	ListAfter(ctx context.Context, start string, page int, fn func(key string, size int64) error) error
}

var errListed = errors.New("metalog: listed")

// ListLogs is WriterEnds. From a store that lists across prefixes it is one
// listing from checkpoints/ to the end of log/, and every key between
// them (gc/, keys/, locks/) goes to between, when not nil; listed says so.
func ListLogs(ctx context.Context, objs blobstore.Objects, between func(key string)) (map[string]int64, error) {
	ends := map[string]int64{}
	add := func(prefix, key string) {
		w, name, ok := strings.Cut(strings.TrimPrefix(key, prefix), "/")
		if !ok || !validID(w) {
			return
		}
		end, known := ends[w]
		if !known {
			ends[w] = 0
		}
		if prefix == "log/" {
			if seq, err := strconv.ParseInt(name, 10, 64); err == nil && len(name) == 20 && seq > end {
				ends[w] = seq
			}
		}
	}
	if al, ok := objs.(afterLister); ok && between != nil {
		// "cairn.repo" sorts before "checkpoints/": everything after it
		// up to the last key of log/.
		err := al.ListAfter(ctx, "cairn.repo", 0, func(key string, _ int64) error {
			switch {
			case strings.HasPrefix(key, "checkpoints/"):
				add("checkpoints/", key)
			case strings.HasPrefix(key, "log/"):
				add("log/", key)
			case key > "log/":
				return errListed
			default:
				between(key)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errListed) {
			return nil, fmt.Errorf("list log writers: %w", err)
		}
		return ends, nil
	}
	for _, prefix := range []string{"log/", "checkpoints/"} {
		err := objs.ListObjects(ctx, prefix, func(key string, _ int64) error {
			add(prefix, key)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list log writers: %w", err)
		}
	}
	return ends, nil
}

func (l *Log) ad(key string) []byte {
	ad := make([]byte, 0, len(l.repoID)+1+len(key))
	ad = append(ad, l.repoID...)
	ad = append(ad, 0)
	return append(ad, key...)
}

var encoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic("metalog: zstd encoder: " + err.Error()) // constant options
	}
	return enc
})

var decoder = sync.OnceValue(func() *zstd.Decoder {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(4<<30))
	if err != nil {
		panic("metalog: zstd decoder: " + err.Error()) // constant options
	}
	return dec
})

// probeSize is how much of a big record seal looks at to decide whether
// the whole is worth compressing.
const probeSize = 64 << 10

// seal returns the stored form of plain under key.
func (l *Log) seal(key string, plain []byte, compress bool) []byte {
	body := make([]byte, 0, 1+len(plain))
	if compress || len(plain) >= minCompress && compresses(plain) {
		body = append(body, codecZstd)
		body = encoder().EncodeAll(plain, body)
		if !compress && len(body) >= 1+len(plain) {
			body = append(body[:0], codecRaw)
			body = append(body, plain...)
		}
	} else {
		body = append(body, codecRaw)
		body = append(body, plain...)
	}
	return l.keys.Seal(make([]byte, 0, len(body)+keys.Overhead), body, l.ad(key))
}

// compresses reports whether zstd is worth trying on a record: a big one
// only when the bytes of its first probeSize have less than 7.5 bits of
// entropy each. The catalog compresses the body of every record that is
// not tiny, so trying the whole again was wasted: on the 77.8 MB record of
// a first snapshot of 1M small files it took a zstd pass at SpeedDefault
// and a second and third copy of the record (the output outgrew its
// buffer) before the raw form was kept anyway. Counting bytes, rather than
// compressing the probe, spares the encoder's tables too (0.09 CPU s for
// the one record of a snapshot of 100k files).
func compresses(plain []byte) bool {
	if len(plain) <= probeSize {
		return true
	}
	var count [256]int
	for _, b := range plain[:probeSize] {
		count[b]++
	}
	bits := 0.0
	for _, n := range count {
		if n > 0 {
			p := float64(n) / probeSize
			bits -= p * math.Log2(p)
		}
	}
	return bits < 7.5
}

// open returns the plaintext of the object stored under key.
func (l *Log) open(key string, sealed []byte) ([]byte, error) {
	body, err := l.keys.Open(nil, sealed, l.ad(key))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("open %s: empty: %w", key, ErrCorrupt)
	}
	switch body[0] {
	case codecRaw:
		return body[1:], nil
	case codecZstd:
		out, err := decoder().DecodeAll(body[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("open %s: %v: %w", key, err, ErrCorrupt)
		}
		return out, nil
	}
	return nil, fmt.Errorf("open %s: unknown codec %d: %w", key, body[0], ErrCorrupt)
}

// Append stores rec as record seq, durably. A seq that exists gives an
// error wrapping blobstore.ErrExists, and the stored record is untouched.
func (l *Log) Append(ctx context.Context, seq int64, rec []byte) error {
	if seq < 1 {
		return fmt.Errorf("append log record %d: seq starts at 1", seq)
	}
	key := RecordKey(l.writer, seq)
	sealed := l.seal(key, rec, false)
	if err := l.objs.PutObject(ctx, key, sealed); err != nil {
		return fmt.Errorf("append log record %d: %w", seq, err)
	}
	l.mu.Lock()
	l.appended += int64(len(sealed))
	l.mu.Unlock()
	return nil
}

// Appended is how many bytes of records this process has appended: what
// a command cost the log.
func (l *Log) Appended() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appended
}

// Read returns record seq. A record past the end of the log gives an error
// wrapping blobstore.ErrNotFound; one missing while a later one exists
// wraps ErrGap instead, so that replay does not end silently at a hole.
func (l *Log) Read(ctx context.Context, seq int64) ([]byte, error) {
	key := RecordKey(l.writer, seq)
	sealed, err := l.objs.GetObject(ctx, key)
	if errors.Is(err, blobstore.ErrNotFound) {
		last, lerr := l.lastRecord(ctx)
		if lerr != nil {
			return nil, lerr
		}
		if last > seq {
			return nil, fmt.Errorf("read log record %d of writer %s: %w (record %d exists)", seq, l.writer, ErrGap, last)
		}
		if last == 0 {
			// No record at all: a re-based log (cairn repair log) keeps
			// only its checkpoint. A record at or below it was removed,
			// not yet written: the reader is behind the checkpoint.
			cps, cerr := l.Checkpoints(ctx)
			if cerr != nil {
				return nil, cerr
			}
			if n := len(cps); n > 0 && cps[n-1].Seq >= seq {
				return nil, fmt.Errorf("read log record %d of writer %s: %w (checkpoint %d covers it, and its records were removed)", seq, l.writer, ErrGap, cps[n-1].Seq)
			}
		}
		return nil, fmt.Errorf("read log record %d: %w", seq, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read log record %d: %w", seq, err)
	}
	return l.open(key, sealed) // its errors name the record's key
}

// Entry is one stored record or checkpoint: its seq and stored size.
type Entry struct {
	Seq  int64
	Size int64
}

// Records lists the writer's records in seq order.
func (l *Log) Records(ctx context.Context) ([]Entry, error) {
	return l.list(ctx, "log/"+l.writer+"/")
}

// Checkpoints lists the writer's checkpoints in seq order.
func (l *Log) Checkpoints(ctx context.Context) ([]Entry, error) {
	return l.list(ctx, "checkpoints/"+l.writer+"/")
}

func (l *Log) list(ctx context.Context, prefix string) ([]Entry, error) {
	var es []Entry
	err := l.objs.ListObjects(ctx, prefix, func(key string, size int64) error {
		name := strings.TrimPrefix(key, prefix)
		seq, err := strconv.ParseInt(name, 10, 64)
		if err != nil || len(name) != 20 || seq < 0 {
			return nil // not ours (a stray file): check reports what it knows
		}
		es = append(es, Entry{Seq: seq, Size: size})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	return es, nil
}

func (l *Log) lastRecord(ctx context.Context) (int64, error) {
	es, err := l.Records(ctx)
	if err != nil || len(es) == 0 {
		return 0, err
	}
	return es[len(es)-1].Seq, nil
}

// LastSeq is the seq of the writer's newest record, 0 for none.
func (l *Log) LastSeq(ctx context.Context) (int64, error) { return l.lastRecord(ctx) }
