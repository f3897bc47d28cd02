package credfile

import (
	"bytes"
	"strings"
)

// The editors below change one profile of a file's text and leave every
// other byte as it was: a person's credentials file holds profiles,
// comments and settings this program knows nothing about, and a key
// handed over into it must not cost them.

// keyLines are the lines a profile's keys live on. A session token is
// among them because it belongs to the key pair it came with: left beside
// a new pair, it would make every call fail.
var keyLines = []string{"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}

// SetProfile returns content with profile name holding keys k: the key
// lines of an existing [name] section are replaced in place (its other
// lines stay), or a new section is appended at the end.
func SetProfile(content []byte, name string, k Keys) []byte {
	fresh := "aws_access_key_id = " + k.AccessKeyID + "\naws_secret_access_key = " + k.SecretAccessKey + "\n"
	var out bytes.Buffer
	found := false
	for _, l := range walk(content, name) {
		switch {
		case l.inside && l.header && !found:
			found = true
			out.WriteString(l.text)
			if !strings.HasSuffix(l.text, "\n") {
				out.WriteByte('\n')
			}
			out.WriteString(fresh)
		case l.inside && isKeyLine(l.text):
		default:
			out.WriteString(l.text)
		}
	}
	if !found {
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteByte('\n')
		}
		if out.Len() > 0 {
			out.WriteByte('\n')
		}
		out.WriteString("[" + name + "]\n" + fresh)
	}
	return out.Bytes()
}

// RemoveProfile returns content without the [name] section (its header
// and every line up to the next section), and whether there was one.
func RemoveProfile(content []byte, name string) ([]byte, bool) {
	var out bytes.Buffer
	found := false
	for _, l := range walk(content, name) {
		found = found || l.inside
		if !l.inside {
			out.WriteString(l.text)
		}
	}
	return out.Bytes(), found
}

// line is one line of a credentials file (with its newline, if it has
// one), and where it stands relative to the profile being edited.
type line struct {
	text string
	// inside: the line belongs to a section of the profile, header
	// included; header: it is a section header.
	inside, header bool
}

func walk(content []byte, name string) []line {
	var out []line
	inside := false
	for _, text := range strings.SplitAfter(string(content), "\n") {
		section, header := header(text)
		if header {
			inside = section == name
		}
		out = append(out, line{text, inside, header})
	}
	return out
}

// header reports the section a "[name]" line opens, as Parse reads it.
func header(line string) (string, bool) {
	l := strings.TrimSpace(line)
	if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
		return strings.TrimSpace(l[1 : len(l)-1]), true
	}
	return "", false
}

func isKeyLine(line string) bool {
	k, _, ok := strings.Cut(line, "=")
	if !ok {
		return false
	}
	k = strings.TrimSpace(k)
	for _, want := range keyLines {
		if k == want {
			return true
		}
	}
	return false
}
