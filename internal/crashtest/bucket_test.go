package crashtest

import (
	"slices"
	"testing"

	"github.com/cairn-dev/cairn/internal/s3test"
)

// bucketRepo is a repository in a fresh prefix of a versitygw bucket
// started for the test: its s3:// URL, its prefix in the bucket, and the
// environment every cairn run against it needs (credentials, endpoint,
// password). Each caller adds its own XDG_CACHE_HOME: one per machine.
type bucketRepo struct {
	srv    *s3test.Server
	prefix string
	url    string
	env    []string
}

func newBucketRepo(t testing.TB) bucketRepo {
	srv := s3test.Versity(t)
	prefix := s3test.Prefix()
	return bucketRepo{
		srv:    srv,
		prefix: prefix,
		url:    "s3://" + srv.Bucket + "/" + prefix,
		env:    slices.Clip(append(srv.Env(), "CAIRN_S3_ENDPOINT="+srv.Endpoint, "CAIRN_PASSWORD=correct horse")),
	}
}
