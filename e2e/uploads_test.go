package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/amplifybackendd/amplifybackendd/internal/testserver"
)

// browserOrigin is a front end served from somewhere other than the bucket.
const browserOrigin = "https://app.example.com"

// send makes one request the way a browser's fetch would (an Origin, no
// signature beyond what the URL carries) and returns the answer with its
// body read.
func send(t *testing.T, method, url, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", browserOrigin)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, raw := testserver.DoRaw(t, req)
	return resp, string(raw)
}

// TestBrowserUploadPaths follows what Amplify's storage client does with a
// bucket we provision (presigned URLs, CORS from the app's origin, multipart
// uploads) on the embedded target, and checks that guests' unsigned
// requests get exactly what their permissions grant on those paths.
func TestBrowserUploadPaths(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	all := []string{"READ", "CREATE_AND_UPDATE", "DELETE"}
	createAndWait(t, s, "web", "readers", "web-readers", all, []string{"READ"})
	createAndWait(t, s, "web", "writers", "web-writers", all, []string{"READ", "CREATE_AND_UPDATE"})

	t.Run("cors preflight", func(t *testing.T) {
		for _, bucket := range []string{"web-readers", "web-writers"} {
			resp, body := send(t, http.MethodOptions, s.S3+"/"+bucket+"/public/photo.jpg", "", http.Header{
				"Access-Control-Request-Method":  {"PUT"},
				"Access-Control-Request-Headers": {"content-type,x-amz-meta-owner"},
			})
			h := resp.Header
			if resp.StatusCode != http.StatusOK || h.Get("Access-Control-Allow-Origin") != "*" ||
				h.Get("Access-Control-Allow-Methods") != "GET, HEAD, PUT, POST, DELETE" ||
				h.Get("Access-Control-Expose-Headers") != "x-amz-server-side-encryption, x-amz-request-id, x-amz-id-2, ETag" ||
				h.Get("Access-Control-Max-Age") != "3000" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "content-type") {
				t.Errorf("%s: preflight answered %d %v %s", bucket, resp.StatusCode, h, body)
			}
			// A method the Amplify rule does not list is refused.
			if resp, _ := send(t, http.MethodOptions, s.S3+"/"+bucket+"/public/photo.jpg", "",
				http.Header{"Access-Control-Request-Method": {"PATCH"}}); resp.StatusCode == http.StatusOK {
				t.Errorf("%s: a PATCH preflight was allowed: %v", bucket, resp.Header)
			}
		}
	})

	t.Run("presigned put and get", func(t *testing.T) {
		ps := s3.NewPresignClient(s.S3Client())
		put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("web-readers"), Key: aws.String("private/someone/photo.jpg"),
			ContentType: aws.String("image/jpeg")}, s3.WithPresignExpires(15*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		// The guide: a Content-Type other than the one signed is refused.
		if resp, body := send(t, http.MethodPut, put.URL, "jpeg bytes", http.Header{"Content-Type": {"image/png"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("presigned PUT with another Content-Type: %d %s", resp.StatusCode, body)
		}
		resp, body := send(t, http.MethodPut, put.URL, "jpeg bytes", http.Header{"Content-Type": {"image/jpeg"}})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("ETag") == "" {
			t.Fatalf("presigned PUT: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("web-readers"), Key: aws.String("private/someone/photo.jpg")})
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := send(t, http.MethodGet, get.URL, "", nil); resp.StatusCode != http.StatusOK || body != "jpeg bytes" ||
			resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("presigned GET: %d %v %q", resp.StatusCode, resp.Header, body)
		}
		// The URL signs one object: the same query on another key, or
		// the bare URL without it, is a guest's request, and guests have
		// no private/ access.
		other := strings.Replace(get.URL, "/photo.jpg?", "/other.jpg?", 1)
		if resp, _ := send(t, http.MethodGet, other, "", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("presigned GET moved to another key: %d", resp.StatusCode)
		}
		bare, _, _ := strings.Cut(get.URL, "?")
		if resp, _ := send(t, http.MethodGet, bare, "", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("unsigned GET of private/: %d", resp.StatusCode)
		}
	})

	t.Run("multipart upload", func(t *testing.T) {
		c := s.S3Client()
		key := aws.String("public/video.bin")
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("web-writers"), Key: key})
		if err != nil {
			t.Fatal(err)
		}
		parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("tail")} // every part but the last at least 5 MiB
		var done []types.CompletedPart
		for i, p := range parts {
			n := aws.Int32(int32(i + 1))
			up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("web-writers"), Key: key, UploadId: mp.UploadId, PartNumber: n, Body: bytes.NewReader(p)})
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, types.CompletedPart{ETag: up.ETag, PartNumber: n})
		}
		if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("web-writers"), Key: key, UploadId: mp.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
			t.Fatal(err)
		}
		// Guests may read public/ here, so the whole object comes back unsigned.
		resp, body := send(t, http.MethodGet, s.S3+"/web-writers/public/video.bin", "", nil)
		if resp.StatusCode != http.StatusOK || len(body) != 5<<20+4 || !strings.HasSuffix(body, "atail") {
			t.Errorf("GET of the completed upload: %d, %d bytes", resp.StatusCode, len(body))
		}
		// S3 never lets an anonymous request start a multipart upload,
		// whatever a bucket policy grants (Amplify's guests upload with
		// Cognito's unauthenticated credentials, not anonymously).
		for _, bucket := range []string{"web-readers", "web-writers"} {
			if resp, body := send(t, http.MethodPost, s.S3+"/"+bucket+"/public/big?uploads", "", nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: anonymous CreateMultipartUpload: %d %s", bucket, resp.StatusCode, body)
			}
		}
	})

	t.Run("guests get what they were granted", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			want         int
		}{
			{"GET", "/web-readers/private/someone/photo.jpg", 403},
			{"PUT", "/web-readers/public/guest.txt", 403},
			{"PUT", "/web-readers/uploads/guest.txt", 403},
			{"PUT", "/web-writers/public/guest.txt", 200},
			{"PUT", "/web-writers/uploads/guest.txt", 200},
			{"PUT", "/web-writers/protected/someone/guest.txt", 403},
			{"PUT", "/web-writers/private/someone/guest.txt", 403},
			{"GET", "/web-writers/public/guest.txt", 200},
			{"DELETE", "/web-writers/public/guest.txt", 403},
		} {
			body := ""
			if c.method == "PUT" {
				body = "from a guest"
			}
			resp, raw := send(t, c.method, s.S3+c.path, body, nil)
			if resp.StatusCode != c.want {
				t.Errorf("guest %s %s: %d, want %d: %s", c.method, c.path, resp.StatusCode, c.want, raw)
			}
			// An allowed answer to the app's origin carries the CORS
			// header, or the browser would not let the app read it.
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" && c.want == 200 {
				t.Errorf("guest %s %s: no Access-Control-Allow-Origin: %v", c.method, c.path, resp.Header)
			}
		}
	})
}
