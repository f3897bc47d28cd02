// Package credfile reads the AWS shared-credentials format: the server's
// own data-dir/credentials file and the files its tools and tests are
// pointed at use the same reader.
package credfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Keys is one profile's access key pair. Either half may be empty when the
// file leaves it out; callers that need both say so.
type Keys struct{ AccessKeyID, SecretAccessKey string }

// Complete reports whether both halves are present.
func (k Keys) Complete() bool { return k.AccessKeyID != "" && k.SecretAccessKey != "" }

// Parse reads every profile's keys. Comments (# and ;), blank lines and
// keys other than the two access key lines are skipped, as the AWS CLI
// does; a key outside any [section] belongs to no profile.
func Parse(r io.Reader) (map[string]Keys, error) {
	profiles := map[string]Keys{}
	var section string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if name, ok := header(line); ok {
			// A section is a profile once it has a line: an empty one
			// is left out, as the server's reader always did.
			section = name
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			continue
		}
		keys := profiles[section]
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			keys.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			keys.SecretAccessKey = strings.TrimSpace(v)
		}
		profiles[section] = keys
	}
	return profiles, sc.Err()
}

// Read parses the file at path.
func Read(path string) (map[string]Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	profiles, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return profiles, nil
}

// Profile returns one profile's keys as SDK credentials, or an error naming
// the file when the profile is missing or lacks a key.
func Profile(path, name string) (aws.Credentials, error) {
	profiles, err := Read(path)
	if err != nil {
		return aws.Credentials{}, err
	}
	k, ok := profiles[name]
	if !ok || !k.Complete() {
		return aws.Credentials{}, fmt.Errorf("no profile [%s] with both keys in %s", name, path)
	}
	return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, nil
}
