package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// TestFileBrowserWiring runs the binary at its defaults and checks what
// the file browser needs of it beyond the routes (handlers/objectstest
// tests those): the routes reach the target, the console's CSP lets it
// reach the embedded S3 endpoint, and that endpoint answers the console's
// origin (the API's URL) from the browser, on an imported bucket that
// has no CORS rules of its own.
func TestFileBrowserWiring(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if _, err := s.S3Client().CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("browse-imported")}); err != nil {
		t.Fatal(err)
	}
	r := testserver.MustOK(t, s.Call("POST", "/backend/files/storage/dev/import", map[string]any{"serviceName": "S3", "bucketName": "browse-imported"}))
	if job := s.WaitJob("files", "dev", r.Str("jobId")); job.Str("status") != "COMPLETED" {
		t.Fatalf("import: %s", job.Raw)
	}
	base := "/console-api/apps/files/environments/dev/storage/browse-imported/objects/"

	up := testserver.MustOK(t, s.Call("POST", base+"upload", map[string]any{"accessLevel": "public", "key": "public/a.txt", "contentType": "text/plain"}))
	url := up.Str("url")
	if !strings.HasPrefix(url, s.S3+"/browse-imported/public/a.txt?") {
		t.Fatalf("upload URL %s is not on %s", url, s.S3)
	}
	resp, body := send(t, http.MethodOptions, url, "", http.Header{"Origin": {s.API},
		"Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"content-type"}})
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != s.API {
		t.Errorf("preflight from %s: %d %v %s", s.API, resp.StatusCode, resp.Header, body)
	}
	resp, body = send(t, http.MethodPut, url, "hello", http.Header{"Origin": {s.API}, "Content-Type": {"text/plain"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != s.API ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")), "etag") {
		t.Errorf("PUT from %s: %d %v %s", s.API, resp.StatusCode, resp.Header, body)
	}

	list := testserver.MustOK(t, s.Call("POST", base+"list", map[string]any{"accessLevel": "public"}))
	if objs, _ := list.Body["objects"].([]any); len(objs) != 1 || objs[0].(map[string]any)["key"] != "public/a.txt" {
		t.Errorf("list: %s", list.Raw)
	}

	req := s.NewRequest(http.MethodGet, "/console/", nil)
	resp, _ = testserver.DoRaw(t, req)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' "+s.S3+";") {
		t.Errorf("CSP %q does not let the console reach %s", csp, s.S3)
	}
}
