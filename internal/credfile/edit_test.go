package credfile

import (
	"strings"
	"testing"
)

const handWritten = `# my keys
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = s1
region = eu-west-1

[team]
; rotated in spring
aws_access_key_id=AKIDOLD
aws_session_token = tok
aws_secret_access_key=old
output = json

[other]
aws_access_key_id = AKIDOTHER
aws_secret_access_key = s3`

func TestSetProfileReplacesOnlyItsKeys(t *testing.T) {
	t.Parallel()
	got := string(SetProfile([]byte(handWritten), "team", Keys{"AKIDNEW", "new"}))
	want := strings.Replace(handWritten, "[team]\n; rotated in spring\naws_access_key_id=AKIDOLD\naws_session_token = tok\naws_secret_access_key=old\n",
		"[team]\naws_access_key_id = AKIDNEW\naws_secret_access_key = new\n; rotated in spring\n", 1)
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	p, err := Parse(strings.NewReader(got))
	if err != nil || p["team"] != (Keys{"AKIDNEW", "new"}) || p["default"] != (Keys{"AKIDDEFAULT", "s1"}) || p["other"] != (Keys{"AKIDOTHER", "s3"}) {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestSetProfileAppends(t *testing.T) {
	t.Parallel()
	got := string(SetProfile([]byte(handWritten), "new", Keys{"AKIDN", "n"}))
	if want := handWritten + "\n\n[new]\naws_access_key_id = AKIDN\naws_secret_access_key = n\n"; got != want {
		t.Fatalf("got:\n%q\nwant:\n%q", got, want)
	}
	if got := string(SetProfile(nil, "a", Keys{"I", "S"})); got != "[a]\naws_access_key_id = I\naws_secret_access_key = S\n" {
		t.Fatalf("into an empty file: %q", got)
	}
}

func TestRemoveProfile(t *testing.T) {
	t.Parallel()
	got, found := RemoveProfile([]byte(handWritten), "team")
	want := strings.Replace(handWritten, "[team]\n; rotated in spring\naws_access_key_id=AKIDOLD\naws_session_token = tok\naws_secret_access_key=old\noutput = json\n\n", "", 1)
	if !found || string(got) != want {
		t.Fatalf("found=%v got:\n%s", found, got)
	}
	if same, found := RemoveProfile([]byte(handWritten), "nobody"); found || string(same) != handWritten {
		t.Fatalf("removing a missing profile changed the file: %v", found)
	}
}
