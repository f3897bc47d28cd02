// Command table writes the client compatibility table into README.md from
// the conformance suite's last run (artifacts/conformance/*.json):
//
//	AMPLIFYBACKENDD_EXTERNAL=1 go test ./conformance && go run ./conformance/table
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// result mirrors what conformance_test.go writes.
type result struct {
	Variant string `json:"variant"`
	Client  string `json:"client"`
	Version string `json:"version"`
	Checks  []struct {
		Check string `json:"check"`
		OK    bool   `json:"ok"`
	} `json:"checks"`
}

// rows are the table's lines: a label and the checks (by name or name
// prefix ending in '*') that prove it.
var rows = []struct {
	label  string
	checks []string
}{
	{"CreateBackendStorage (named and derived bucket)", []string{"create_named", "create_derived"}},
	{"ImportBackendStorage", []string{"import_storage"}},
	{"GetBackendStorage", []string{"get_storage"}},
	{"UpdateBackendStorage", []string{"update_storage"}},
	{"DeleteBackendStorage", []string{"delete_storage"}},
	{"GetBackend", []string{"get_backend"}},
	{"CreateBackend (app name; an existing environment refused)", []string{"create_backend"}},
	{"CloneBackend (a new bucket for each one the service created)", []string{"clone_backend"}},
	{"DeleteBackend", []string{"delete_backend"}},
	{"RemoveAllBackends (cleanAmplifyApp)", []string{"remove_all_backends"}},
	{"ListS3Buckets", []string{"list_s3_buckets"}},
	{"GetBackendJob", []string{"get_job"}},
	{"ListBackendJobs (filters)", []string{"list_jobs_filter"}},
	{"UpdateBackendJob (cancel a RUNNING job)", []string{"cancel_job"}},
	{"CreateToken, GetToken (fields, ttl), DeleteToken; GetToken after delete: NotFoundException", []string{"create_token", "get_token", "delete_token", "token_gone"}},
	{"A challenge signs in once (console exchange); its credentials sign calls", []string{"sign_in"}},
	{"Pagination, 60 jobs, exactly once, newest first", []string{"paginate_*"}},
	{"NotFoundException with resourceType; BadRequestException naming the field", []string{"not_found", "bad_request"}},
	{"403: wrong secret, unknown key, unsigned, clock 10 min off", []string{"invalid_signature", "unrecognized_client", "missing_token", "clock_skew_refused"}},
	{"Clock-skew correction from the Date header", []string{"clock_skew_corrected"}},
	{"Names clients percent-encode; repeated and empty permission lists", []string{"odd_names"}},
	{"Endpoints from the written `data/config`, no `--endpoint-url` (API, embedded S3)", []string{"config_endpoints"}},
	{"Presigned URLs from the written config (SigV4, path style)", []string{"presigned_*"}},
	{"Multipart upload to the embedded gateway", []string{"multipart_upload"}},
	{"App ids \".\" and \"..\": BadRequestException naming the field, not a signature failure", []string{"dot_names"}},
	{"Model operations not implemented: BadRequestException naming the operation", []string{"unsupported_operation"}},
}

const (
	startMark = "<!-- compat-table:start -->"
	endMark   = "<!-- compat-table:end -->"
)

func main() {
	if err := run("artifacts/conformance", "README.md"); err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
}

func run(resultsDir, readme string) error {
	files, err := filepath.Glob(filepath.Join(resultsDir, "*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no results in %s: run AMPLIFYBACKENDD_EXTERNAL=1 go test ./conformance first", resultsDir)
	}
	var results []result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		results = append(results, r)
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Variant < results[j].Variant })
	doc, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	start, end := bytes.Index(doc, []byte(startMark)), bytes.Index(doc, []byte(endMark))
	if start < 0 || end < start {
		return fmt.Errorf("%s has no %s … %s section", readme, startMark, endMark)
	}
	out := append([]byte{}, doc[:start+len(startMark)]...)
	out = append(out, '\n')
	out = append(out, render(results)...)
	out = append(out, doc[end:]...)
	return os.WriteFile(readme, out, 0o644)
}

// render returns the markdown table: a column per client build, a row per
// operation or behaviour; ✅ all its checks passed, ❌ one failed, – not
// applicable to that client.
func render(results []result) string {
	var b strings.Builder
	b.WriteString("| operation / behaviour |")
	for _, r := range results {
		fmt.Fprintf(&b, " %s %s |", r.Client, strings.ReplaceAll(r.Version, "|", "/"))
	}
	b.WriteString("\n|---|")
	for range results {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s |", row.label)
		for _, r := range results {
			b.WriteString(" " + cell(r, row.checks) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func cell(r result, want []string) string {
	found := 0
	for _, w := range want {
		for _, c := range r.Checks {
			if c.Check == w || strings.HasSuffix(w, "*") && strings.HasPrefix(c.Check, strings.TrimSuffix(w, "*")) {
				found++
				if !c.OK {
					return "❌"
				}
			}
		}
	}
	if found == 0 {
		return "–"
	}
	return "✅"
}
