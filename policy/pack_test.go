package policy

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestPackKeepsGrantsAndLimits packs the 50-resource environment of the
// golden files into an inline policy and managed policies: every document
// is within its limit (its size is exactly what Pack reckoned), together
// they grant what the one document grants, and too small limits say so.
func TestPackKeepsGrantsAndLimits(t *testing.T) {
	t.Parallel()
	auth, _ := EnvDocuments(envPrefix, fiftyFull())
	limits := []int{10240, 6144, 6144, 6144, 6144, 6144, 6144, 6144, 6144, 6144, 6144}
	docs, ok := Pack(auth, limits)
	if !ok {
		t.Fatal("50 full-permission resources do not fit an inline policy and ten managed ones")
	}
	used := 0
	for i, d := range docs {
		if d == nil {
			continue
		}
		used = i + 1
		if n := size(t, d); n > limits[i] {
			t.Errorf("document %d is %d bytes, over its %d", i, n, limits[i])
		}
		checkStatements(t, "packed", d.Statement, envPrefix, false)
	}
	if g, w := grants(t, docs...), grants(t, auth); !slices.Equal(g, w) {
		t.Errorf("packed documents grant\n%v\nwant\n%v", g, w)
	}
	t.Logf("%d characters packed into %d documents", size(t, auth), used)
	again, _ := Pack(auth, limits)
	a, _ := json.Marshal(docs)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Error("Pack is not deterministic")
	}
	if _, ok := Pack(auth, limits[:2]); ok {
		t.Error("Pack claims 50 resources fit 16 KB")
	}
	if docs, ok := Pack(nil, limits); !ok || slices.ContainsFunc(docs, func(d *Document) bool { return d != nil }) {
		t.Errorf("Pack(nil) = %v, %v", docs, ok)
	}
}

// TestPackFillsTightly checks the size accounting on every limit around a
// small document: Pack never passes a limit and always uses one that fits.
func TestPackFillsTightly(t *testing.T) {
	t.Parallel()
	auth, _ := EnvDocuments(envPrefix, goldenEnvs[3].rs)
	whole := size(t, auth)
	for limit := whole - 300; limit <= whole+1; limit++ {
		docs, ok := Pack(auth, []int{limit, limit, limit})
		if !ok {
			t.Fatalf("limit %d: no fit", limit)
		}
		if limit >= whole && docs[1] != nil {
			t.Errorf("limit %d: the whole document (%d) fits, yet Pack used two", limit, whole)
		}
		for i, d := range docs {
			if d != nil && size(t, d) > limit {
				t.Errorf("limit %d: document %d is %d", limit, i, size(t, d))
			}
		}
		if g, w := grants(t, docs...), grants(t, auth); !slices.Equal(g, w) {
			t.Fatalf("limit %d: grants differ", limit)
		}
	}
}
