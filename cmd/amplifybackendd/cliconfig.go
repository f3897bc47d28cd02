package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/amplifybackendd/amplifybackendd/embedded"
)

// Names of the services sections <data-dir>/config points its profiles at.
const (
	servicesAPI      = "amplifybackendd"
	servicesEmbedded = "amplifybackendd-embedded"
)

// clientEndpoints are the URLs clients reach this server on; S3 and IAM are
// empty unless the embedded gateway runs. CABundle is the file clients
// verify an https API with; empty when the API is plain HTTP.
type clientEndpoints struct{ API, S3, IAM, CABundle string }

// apiURL is the URL clients reach the API at: the host of --listen (one
// that means every interface as loopback, as for the gateway's endpoints)
// with the port the listener got, which is not the flag's when that is 0.
// The bound address alone would not do: Go reports a listener on 0.0.0.0 as
// [::], whose loopback, ::1, is not where Docker publishes a 127.0.0.1 port.
func apiURL(listen string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(listen)
	_, port, perr := net.SplitHostPort(bound.String())
	if err != nil || perr != nil {
		return embedded.EndpointURL(bound.String())
	}
	return embedded.EndpointURL(net.JoinHostPort(host, port))
}

// cliSection is one [section] of the AWS shared config file: its header
// line and the lines under it, kept as written.
type cliSection struct {
	header string
	lines  []string
}

// writeCLIConfig brings <data-dir>/config up to date so boto3, the AWS CLI
// and the JS SDK reach this server with no endpoint flag: profile default
// names the API's endpoint, and profile embedded-s3 the embedded gateway's,
// with path-style addressing and SigV4 presigning (botocore presigns S3 URLs
// with the legacy signature unless told otherwise, and the gateway refuses
// those). Endpoints go through the service-specific settings ("services"
// sections), so a profile's other calls are not sent here too.
//
// With TLS on, profiles default and embedded-s3 also get ca_bundle, the
// file botocore verifies the https endpoints with (for that profile it replaces the
// system's CAs); a start without TLS removes it again.
//
// The file is the user's as much as ours: each start rewrites only what it
// owns, the keys region, services, ca_bundle and s3 of its two profiles and its two
// [services ...] sections, and keeps every other section, key and comment
// as it is. A start on other listen addresses therefore updates the
// endpoints, and a file from an earlier release gains them. The file is
// written only when that changes it.
func writeCLIConfig(dir, region string, ep clientEndpoints) (string, error) {
	path := filepath.Join(dir, "config")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return path, fmt.Errorf("read %s: %w", path, err)
	}
	sections := parseCLIConfig(string(old))
	if len(old) == 0 {
		sections = []cliSection{{lines: []string{"# Written by amplifybackendd, which keeps the endpoints it owns up to date at each start;", "# other sections and keys are yours and are kept.", ""}}}
	}
	defaults := map[string][]string{
		"region":    {"region = " + region},
		"services":  {"services = " + servicesAPI},
		"ca_bundle": nil,
	}
	if ep.CABundle != "" {
		defaults["ca_bundle"] = []string{"ca_bundle = " + ep.CABundle}
	}
	sections = setKeys(sections, "[default]", defaults)
	sections = setSection(sections, "[services "+servicesAPI+"]", []string{"amplifybackend =", "  endpoint_url = " + ep.API})
	if ep.S3 != "" {
		sections = setKeys(sections, "[profile "+profileEmbedded+"]", map[string][]string{
			"region":    {"region = " + region},
			"services":  {"services = " + servicesEmbedded},
			"ca_bundle": defaults["ca_bundle"],
			"s3":        {"s3 =", "  addressing_style = path", "  signature_version = s3v4"},
		})
		sections = setSection(sections, "[services "+servicesEmbedded+"]", []string{
			"s3 =", "  endpoint_url = " + ep.S3, "iam =", "  endpoint_url = " + ep.IAM,
		})
	}
	body := formatCLIConfig(sections)
	if body == string(old) {
		return path, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return path, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return path, fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// parseCLIConfig splits a config file into sections; lines before the first
// header form a section without one.
func parseCLIConfig(text string) []cliSection {
	var out []cliSection
	cur := cliSection{}
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			out = append(out, cur)
			cur = cliSection{header: t}
			continue
		}
		cur.lines = append(cur.lines, line)
	}
	out = append(out, cur)
	if out[0].header == "" && strings.TrimSpace(strings.Join(out[0].lines, "")) == "" {
		out = out[1:]
	}
	return out
}

// formatCLIConfig joins sections back into a file. Lines are kept as they
// were; a blank line is put before a header only where the section above
// ends in a setting, so a comment stays with the section it precedes.
func formatCLIConfig(sections []cliSection) string {
	var b bytes.Buffer
	last := ""
	for _, s := range sections {
		if s.header != "" {
			if t := strings.TrimSpace(last); b.Len() > 0 && t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, ";") {
				b.WriteString("\n")
			}
			b.WriteString(s.header + "\n")
			last = s.header
		}
		for _, l := range s.lines {
			b.WriteString(l + "\n")
			last = l
		}
	}
	return b.String()
}

// sectionIndex is the index of the section with header h, -1 when there is none.
func sectionIndex(sections []cliSection, h string) int {
	for i, s := range sections {
		if s.header == h {
			return i
		}
	}
	return -1
}

// setSection makes the section with header h hold exactly lines.
func setSection(sections []cliSection, h string, lines []string) []cliSection {
	if i := sectionIndex(sections, h); i >= 0 {
		sections[i].lines = lines
		return sections
	}
	return append(sections, cliSection{header: h, lines: lines})
}

// setKeys replaces the given keys of the section with header h (adding the
// section when missing): a key's entry is its line and the indented lines
// of a nested value under it. Other keys and comments stay where they are;
// the keys set come first, in a fixed order.
func setKeys(sections []cliSection, h string, keys map[string][]string) []cliSection {
	i := sectionIndex(sections, h)
	if i < 0 {
		sections, i = append(sections, cliSection{header: h}), len(sections)
	}
	var kept []string
	dropping := false
	for _, l := range sections[i].lines {
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			if !dropping {
				kept = append(kept, l)
			}
			continue
		}
		name, _, _ := strings.Cut(l, "=")
		_, dropping = keys[strings.TrimSpace(name)]
		if !dropping {
			kept = append(kept, l)
		}
	}
	var lines []string
	for _, k := range []string{"region", "services", "ca_bundle", "s3"} {
		lines = append(lines, keys[k]...)
	}
	sections[i].lines = append(lines, kept...)
	return sections
}
