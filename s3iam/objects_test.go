package s3iam_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/amplifybackendd/amplifybackendd/s3iam"
)

// TestPresignGetAttachmentName: a download URL names the file by the key's
// base name, in a plain quoted form any client reads (bytes it cannot hold
// replaced) and in RFC 5987's UTF-8 form; the URL lives as long as asked,
// and carries no checksum a browser could not send.
func TestPresignGetAttachmentName(t *testing.T) {
	t.Parallel()
	tg, err := s3iam.New(t.Context(), s3iam.Config{Region: "us-east-1", S3Endpoint: "http://127.0.0.1:1", AccessKey: "AKID", SecretKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"public/a/report.pdf":     `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
		`public/ünï "x";1 2.txt`:  `attachment; filename="_n_ _x_;1 2.txt"; filename*=UTF-8''%C3%BCn%C3%AF%20%22x%22%3B1%202.txt`,
		"public/folder/":          `attachment; filename=""; filename*=UTF-8''`,
		"protected/id:1/a=b@c.js": `attachment; filename="a=b@c.js"; filename*=UTF-8''a%3Db%40c.js`,
	} {
		p, err := tg.PresignGet(t.Context(), "bucket", key, true, 90*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if got := q.Get("response-content-disposition"); got != want {
			t.Errorf("%q: Content-Disposition %q, want %q", key, got, want)
		}
		if q.Get("X-Amz-Expires") != "90" || p.Method != "GET" {
			t.Errorf("%q: expires %q, method %s", key, q.Get("X-Amz-Expires"), p.Method)
		}
		for k := range q {
			if len(k) > 15 && k[:15] == "x-amz-checksum-" || k == "x-amz-sdk-checksum-algorithm" {
				t.Errorf("%q: URL carries %s", key, k)
			}
		}
	}
}
