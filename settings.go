package cairn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/retention"
	"github.com/cairn-dev/cairn/snapshot"
)

// Retention, as the settings and Forget speak of it.
type (
	// Policy is a set of retention rules (keep-last, keep-daily, ...).
	Policy = retention.Policy
	// Decision is a policy's verdict on one snapshot, with its reasons.
	Decision = retention.Decision
)

// The defaults of a source's settings. Each has one home, in the package
// that acts on it; these name them for applications and the CLI.
const (
	// DefaultMassDeletion is the share of files whose removal in one
	// snapshot warns.
	DefaultMassDeletion = snapshot.DefaultMassDeletion
	// DefaultMaxUnused is the share of a pack that may be unreferenced
	// before GC repacks it.
	DefaultMaxUnused = gc.DefaultMaxUnused
	// DefaultGrace is how long the command's GC keeps packs no catalog row
	// names, so that a snapshot can resume from an interrupted one's.
	DefaultGrace = gc.DefaultGrace
)

// DefaultPolicy is the retention policy of a source that sets none.
var DefaultPolicy = retention.Default

// DefaultRuntime returns the runtime-file patterns restore never writes,
// whatever the source adds.
func DefaultRuntime() []string { return slices.Clone(restore.DefaultRuntime) }

// ParseDuration reads a keep-within duration: numbers with units y (365
// days), m (30 days), w, d and h, such as 24h, 7d or 1y2m. Its errors are
// ErrDuration.
func ParseDuration(s string) (time.Duration, error) { return retention.ParseDuration(s) }

// ErrDuration is a keep-within duration that cannot be used.
var ErrDuration = retention.ErrDuration

// Source is a directory cairn snapshots, with its settings in effect
// (the defaults where it sets none).
type Source struct {
	ID   int64 // 0 for a directory never snapshotted or configured
	Path string
	// Policy is the retention policy run after every snapshot of the
	// source; PolicySet says whether it was set (otherwise it is
	// DefaultPolicy).
	Policy    Policy
	PolicySet bool
	// Runtime are the source's own runtime-file patterns, which restore
	// never writes besides DefaultRuntime (see RuntimePatterns).
	Runtime []string
	// MassDeletion is the share of files whose removal in one snapshot
	// warns; MassDeletionSet says whether it was set.
	MassDeletion    float64
	MassDeletionSet bool
	// Excludes are what snapshots of the source leave out besides its
	// .cairnignore: the excludes snapshots were given, remembered.
	Excludes Excludes
	// Replica is where the repository is replicated after every snapshot
	// of the source (ReplicateAfter); its Target is "" when there is none.
	Replica Replica
}

// Replica is a target the repository is replicated to after every
// snapshot of a source (cairn policy set DIR --replicate TARGET).
type Replica struct {
	// Target is s3://bucket/prefix or an absolute directory; "" is none.
	Target string
	// S3Endpoint is the server of an s3:// Target: the one given when the
	// replica was set, else $CAIRN_S3_ENDPOINT then; "" is AWS (or
	// $CAIRN_S3_ENDPOINT at the time of the replication).
	S3Endpoint string
}

// RuntimePatterns are all the patterns restore never writes in the
// source: the defaults, then the source's own.
func (s Source) RuntimePatterns() []string { return append(DefaultRuntime(), s.Runtime...) }

// parseSource reads a catalog row into settings in effect: the one place
// where a source's unset settings become the defaults.
func parseSource(s catalog.Source) (Source, error) {
	out := Source{ID: s.ID, Path: s.Path, Policy: DefaultPolicy, Runtime: s.Runtime, MassDeletion: DefaultMassDeletion}
	if s.Policy != "" {
		p, err := retention.Unmarshal(s.Policy)
		if err != nil {
			return out, fmt.Errorf("policy of %s: %w", s.Path, err)
		}
		out.Policy, out.PolicySet = p, true
	}
	if s.MassDeletion != 0 {
		out.MassDeletion, out.MassDeletionSet = s.MassDeletion, true
	}
	ex, err := snapshot.ParseExcludes(s.Excludes)
	if err != nil {
		return out, fmt.Errorf("excludes of %s: %w", s.Path, err)
	}
	out.Excludes = ex
	out.Replica = Replica{Target: s.Replica.Target, S3Endpoint: s.Replica.Endpoint}
	return out, nil
}

// Settings returns the settings in effect for a source directory. A source
// is found by its recorded path, so a deleted one still answers; a
// directory never snapshotted or configured has the defaults.
func (r *Repo) Settings(ctx context.Context, dir string) (Source, error) {
	src, err := r.sourceRow(ctx, dir)
	if err != nil {
		return Source{}, err
	}
	return parseSource(src)
}

// sourceRow finds the catalog row of the source dir names: by its
// recorded path when dir is a source (even one deleted since), else by
// the directory as it is now; a directory never known gets an empty row
// with its canonical path.
func (r *Repo) sourceRow(ctx context.Context, dir string) (catalog.Source, error) {
	if src, rel, err := r.locate(ctx, dir); err == nil && rel == "." {
		return src, nil
	} else if err != nil && !errors.Is(err, ErrNoSource) {
		return catalog.Source{}, err
	}
	root, err := snapshot.CanonicalSource(dir)
	if err != nil {
		return catalog.Source{}, err
	}
	src, err := r.db.SourceByPath(ctx, root)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Source{Path: root}, nil
	}
	return src, err
}

// SettingsChange changes some of a source's settings; nil fields stay as
// they are.
type SettingsChange struct {
	Policy *Policy
	// Runtime replaces the source's own runtime-file patterns.
	Runtime *[]string
	// MassDeletion is a share in (0, 1].
	MassDeletion *float64
	// Replica sets where the repository is replicated after every
	// snapshot of the source; a Target of "" removes it. The target must
	// be usable: a directory is made absolute, an s3:// address must
	// parse, neither may be the repository itself, and the repository
	// must have a password or key file (ErrOnlyLocalKey otherwise).
	Replica *Replica
}

// Configure changes some of a source's settings. They apply to every later
// snapshot and restore of the source, and to Forget without rules.
func (r *Repo) Configure(ctx context.Context, dir string, c SettingsChange) error {
	src, err := r.sourceRow(ctx, dir)
	if err != nil {
		return err
	}
	var s catalog.SourceSettings
	if c.Policy != nil {
		js := c.Policy.Marshal()
		s.Policy = &js
	}
	s.Runtime, s.MassDeletion = c.Runtime, c.MassDeletion
	if c.Replica != nil {
		rp, err := r.checkReplica(ctx, *c.Replica)
		if err != nil {
			return err
		}
		s.Replica = &catalog.Replica{Target: rp.Target, Endpoint: rp.S3Endpoint}
	}
	return r.db.SetSourceSettings(ctx, src.Path, s)
}

// SetPolicy stores a source's retention policy: Configure with the policy
// only.
func (r *Repo) SetPolicy(ctx context.Context, dir string, p Policy) error {
	return r.Configure(ctx, dir, SettingsChange{Policy: &p})
}
