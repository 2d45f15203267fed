package s3store

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// ParseURL reads a repository address s3://bucket/prefix (the prefix may
// be empty or hold several segments) into a Config for the server at
// endpoint (see Config.Endpoint; empty is AWS). Nothing is contacted.
func ParseURL(rawURL, endpoint string) (Config, error) {
	rest, ok := strings.CutPrefix(rawURL, "s3://")
	if !ok {
		return Config{}, fmt.Errorf("s3 address %q: want s3://bucket/prefix", rawURL)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	prefix = strings.TrimSuffix(prefix, "/")
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return Config{}, fmt.Errorf("s3 address %q: bucket %q: %v", rawURL, bucket, err)
	}
	if err := checkPrefix(prefix); err != nil {
		return Config{}, fmt.Errorf("s3 address %q: %w", rawURL, err)
	}
	if endpoint != "" {
		if _, err := parseEndpoint(endpoint); err != nil {
			return Config{}, err
		}
	}
	return Config{Endpoint: endpoint, Bucket: bucket, Prefix: prefix}, nil
}

// IsURL reports whether a repository argument names an S3 repository.
func IsURL(s string) bool { return strings.HasPrefix(s, "s3://") }

// checkPrefix refuses a prefix that would make keys S3 or a posix-backed
// gateway treat differently from what they look like.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("prefix %q: empty, . or .. segment", prefix)
		}
		for _, c := range seg {
			if c < 0x21 || c > 0x7e || c == '\\' {
				return fmt.Errorf("prefix %q: character %q", prefix, c)
			}
		}
	}
	return nil
}

// parseEndpoint checks an endpoint URL: http or https, a host, no path.
func parseEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("s3 endpoint %q: %v", endpoint, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("s3 endpoint %q: want http://host[:port] or https://host[:port]", endpoint)
	case u.Host == "":
		return nil, fmt.Errorf("s3 endpoint %q: no host", endpoint)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.User != nil:
		return nil, fmt.Errorf("s3 endpoint %q: only scheme, host and port (the bucket goes in s3://bucket/prefix)", endpoint)
	}
	return u, nil
}
