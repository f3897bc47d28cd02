package keyring

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/amplifybackendd/amplifybackendd/access"
)

// Kind says in a few words what key name may do, as `keys list` shows it:
// "administrator", "app APP full", "app APP read-only", "environment
// APP/ENV storage" for the documents the keys command writes from its
// templates, and "custom policy" for any other.
func (r *Ring) Kind(name string) string {
	e, ok := r.Entries[name]
	if !ok {
		return "administrator"
	}
	return KindOf(e.Policy)
}

// KindOf is Kind for one policy document. A template is recognised by
// building it again for the app (and environment) its first resource
// names and comparing: a document edited by hand is custom, whatever it
// resembles.
func KindOf(doc []byte) string {
	if same(doc, []byte(access.AdministratorDocument)) {
		return "administrator"
	}
	app, env, ok := templateTarget(doc)
	switch {
	case !ok:
	case env == "" && same(doc, access.AppDocument(app, false)):
		return "app " + app + " full"
	case env == "" && same(doc, access.AppDocument(app, true)):
		return "app " + app + " read-only"
	case env != "" && same(doc, access.EnvironmentStorageDocument(app, env)):
		return "environment " + app + "/" + env + " storage"
	}
	return "custom policy"
}

// templateTarget reads the app, and the environment if there is one, out
// of a template's first resource, "arn:*:amplifybackend:*:*:/backend/APP/…".
func templateTarget(doc []byte) (app, env string, ok bool) {
	var d struct{ Statement []struct{ Resource []string } }
	if json.Unmarshal(doc, &d) != nil || len(d.Statement) == 0 || len(d.Statement[0].Resource) == 0 {
		return "", "", false
	}
	rest, found := strings.CutPrefix(d.Statement[0].Resource[0], "arn:*:"+access.ServicePrefix+":*:*:/backend/")
	if !found {
		return "", "", false
	}
	seg, rest, _ := strings.Cut(rest, "/")
	if app, ok = unescape(seg); !ok {
		return "", "", false
	}
	if seg, found = strings.CutPrefix(rest, "environments/"); found {
		if env, ok = unescape(seg); !ok {
			return "", "", false
		}
	}
	return app, env, true
}

// unescape undoes access.Segment.
func unescape(seg string) (string, bool) {
	s, err := url.PathUnescape(seg)
	return s, err == nil && s != ""
}

func same(a, b []byte) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}
