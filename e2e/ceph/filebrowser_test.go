package ceph

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// browse sends a file browser request (a signed POST to the resource's
// objects route op) and returns the answer, which must be a 200.
func browse(t *testing.T, s *testserver.Server, base, op string, body map[string]any) testserver.Response {
	t.Helper()
	return testserver.MustOK(t, s.Call("POST", base+op, body))
}

// fromBrowser makes an anonymous request from the console's origin, as
// the browser does with a presigned URL.
func fromBrowser(t *testing.T, method, url, origin string, body []byte, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, raw := testserver.DoRaw(t, req)
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp
}

// TestFileBrowserOnCeph: the file browser's routes against RGW, with the
// bucket a create job made (Amplify's CORS rule on it): a listing paged
// with RGW's own continuation token, a presigned PUT and GET from the
// console's origin, a multipart upload completed and one aborted, and a
// folder deleted.
func TestFileBrowserOnCeph(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	const app, env, name, bucket = "cephfiles", "dev", "files", "amplifybackendd-ceph-files"
	runJob(t, s, app, env, "/backend/"+app+"/storage", storageBody(env, name, bucket, []string{"READ"}, []string{}))
	base := "/console-api/apps/" + app + "/environments/" + env + "/storage/" + name + "/objects/"
	admin := s3Client(cluster.admin)
	for i := range 25 {
		if err := putObject(t, admin, bucket, fmt.Sprintf("public/many/%03d", i)); err != nil {
			t.Fatal(err)
		}
	}

	var keys []string
	token := ""
	for pages := 1; ; pages++ {
		body := map[string]any{"accessLevel": "public", "prefix": "public/many/", "maxKeys": 10}
		if token != "" {
			body["continuationToken"] = token
		}
		page := browse(t, s, base, "list", body)
		for _, o := range page.Body["objects"].([]any) {
			keys = append(keys, o.(map[string]any)["key"].(string))
		}
		if token = page.Str("nextContinuationToken"); token == "" {
			break
		}
		if pages > 3 {
			t.Fatalf("more than 3 pages of 10 for 25 keys: %s", page.Raw)
		}
	}
	if len(keys) != 25 || keys[0] != "public/many/000" || keys[24] != "public/many/024" {
		t.Fatalf("listed %v", keys)
	}

	origin := s.API
	up := browse(t, s, base, "upload", map[string]any{"accessLevel": "public", "key": "public/hello.txt", "contentType": "text/plain"})
	if resp := fromBrowser(t, http.MethodOptions, up.Str("url"), origin, nil, map[string]string{
		"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}); resp.StatusCode != http.StatusOK ||
		resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp := fromBrowser(t, http.MethodPut, up.Str("url"), origin, []byte("hello"), map[string]string{"Content-Type": "text/plain"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")), "etag") {
		t.Fatalf("presigned PUT: %d %v", resp.StatusCode, resp.Header)
	}
	down := browse(t, s, base, "download", map[string]any{"accessLevel": "public", "key": "public/hello.txt", "expiresIn": 60})
	resp = fromBrowser(t, http.MethodGet, down.Str("url"), origin, nil, nil)
	if got, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(got) != "hello" || down.Str("contentType") != "text/plain" {
		t.Errorf("presigned GET: %d %q, stored type %q", resp.StatusCode, got, down.Str("contentType"))
	}

	data := make([]byte, 5<<20+1)
	_, _ = rand.Read(data)
	mp := browse(t, s, base, "multipart", map[string]any{"accessLevel": "public", "key": "public/big.bin"})
	id := mp.Str("uploadId")
	parts := browse(t, s, base, "multipart/parts", map[string]any{"accessLevel": "public", "key": "public/big.bin", "uploadId": id, "partNumbers": []int{1, 2}})
	var done []map[string]any
	for i, p := range parts.Body["parts"].([]any) {
		chunk := data[:5<<20]
		if i == 1 {
			chunk = data[5<<20:]
		}
		resp := fromBrowser(t, http.MethodPut, p.(map[string]any)["url"].(string), origin, chunk, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
			t.Fatalf("part %d: %d %v", i+1, resp.StatusCode, resp.Header)
		}
		done = append(done, map[string]any{"partNumber": i + 1, "eTag": resp.Header.Get("ETag")})
	}
	browse(t, s, base, "multipart/complete", map[string]any{"accessLevel": "public", "key": "public/big.bin", "uploadId": id, "parts": done})
	got, err := admin.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("public/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(body, data) {
		t.Fatalf("completed object: %d bytes, want the %d uploaded", len(body), len(data))
	}

	mp = browse(t, s, base, "multipart", map[string]any{"accessLevel": "public", "key": "public/cancelled.bin"})
	browse(t, s, base, "multipart/abort", map[string]any{"accessLevel": "public", "key": "public/cancelled.bin", "uploadId": mp.Str("uploadId")})
	uploads, err := admin.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(uploads.Uploads) != 0 {
		t.Errorf("after abort: %v uploads in progress (%v)", len(uploads.Uploads), err)
	}

	del := browse(t, s, base, "delete", map[string]any{"accessLevel": "public", "prefix": "public/many/"})
	if del.Body["deleted"] != float64(25) || len(del.Body["errors"].([]any)) != 0 {
		t.Errorf("delete folder: %s", del.Raw)
	}
	left := browse(t, s, base, "list", map[string]any{"accessLevel": "public", "delimiter": ""})
	if objs := left.Body["objects"].([]any); len(objs) != 2 {
		t.Errorf("after deleting public/many/: %s", left.Raw)
	}
}
