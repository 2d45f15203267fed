package blobstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrExists reports a PutObject under a key that already holds an object.
var ErrExists = errors.New("blobstore: object exists")

// Objects holds a repository's small named objects beside its packs: the
// repository file (cairn.repo), key files (keys/), the metadata log
// (log/<writer>/<seq>), checkpoints and gc plans. A key is a slash-separated
// path of segments made of [a-z0-9._-] (ValidKey); the same keys name
// files under a local repository's directory and objects under an S3
// prefix. Objects are immutable once written, except where a caller
// deletes them. Implementations are safe for concurrent use.
type Objects interface {
	// PutObject stores data under key, durably (it survives kill -9 and
	// power loss once PutObject returns nil). A key that already holds an
	// object gives an error wrapping ErrExists and leaves it untouched:
	// log records are never overwritten.
	PutObject(ctx context.Context, key string, data []byte) error
	// GetObject returns the object's bytes; a missing key gives an error
	// wrapping ErrNotFound.
	GetObject(ctx context.Context, key string) ([]byte, error)
	// ListObjects calls fn for every object whose key starts with prefix,
	// in ascending key order. An error from fn stops the walk and is
	// returned as is.
	ListObjects(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	// ListObjectsDated is ListObjects with each object's modification
	// time in the store's own clock (a file's mtime, an object's
	// Last-Modified), which comes with the listing at no extra request.
	// gc measures its grace periods and its lease in this clock, never in
	// the local one: two hosts' clocks may disagree, the store's is one.
	ListObjectsDated(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error
	// DeleteObject removes an object durably; a missing key gives an error
	// wrapping ErrNotFound.
	DeleteObject(ctx context.Context, key string) error
}

// ValidKey reports whether key may name an object: one or more segments
// separated by "/", each of [a-z0-9._-], none empty, "." or "..", and
// nothing under packs/ (pack names belong to Store) or local/ (never part
// of the repository proper).
func ValidKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "packs/") || strings.HasPrefix(key, "local/") {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// CheckKey returns an error wrapping ErrInvalidName unless ValidKey(key).
func CheckKey(verb, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("%s object %q: %w", verb, key, ErrInvalidName)
	}
	return nil
}
