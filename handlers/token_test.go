package handlers

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
)

func TestPaginationToken(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	otherKey := []byte("fedcba9876543210fedcba9876543210")
	cursor := []byte("app\x00dev\x00\x00\x00\x01\x93job-42")
	const binding = "ListBackendJobs\x00app\x00dev\x00\x00\x00"
	good := encodeToken(key, cursor, binding)
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatalf("token %q is not unpadded base64url: %v", good, err)
	}
	flipped := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}

	tests := []struct {
		name    string
		key     []byte
		token   string
		binding string
		want    []byte // nil: the token is refused
	}{
		{name: "round trip", key: key, token: good, binding: binding, want: cursor},
		{name: "surrounding space is ignored", key: key, token: " " + good + "\n", binding: binding, want: cursor},
		{name: "tampered cursor byte", key: key, token: flipped(0), binding: binding},
		{name: "tampered last cursor byte", key: key, token: flipped(len(cursor) - 1), binding: binding},
		{name: "tampered MAC byte", key: key, token: flipped(len(raw) - 1), binding: binding},
		{name: "truncated by one byte", key: key, token: base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), binding: binding},
		{name: "truncated text", key: key, token: good[:len(good)/2], binding: binding},
		{name: "MAC only", key: key, token: base64.RawURLEncoding.EncodeToString(raw[len(cursor):]), binding: binding},
		{name: "other binding", key: key, token: good, binding: "ListBackendJobs\x00app\x00prod\x00\x00\x00"},
		{name: "other filter", key: key, token: good, binding: "ListBackendJobs\x00app\x00dev\x00\x00\x00RUNNING"},
		{name: "other key", key: otherKey, token: good, binding: binding},
		{name: "garbage base64", key: key, token: "!!not*base64!!", binding: binding},
		{name: "padded standard base64", key: key, token: base64.StdEncoding.EncodeToString(raw) + "=", binding: binding},
		{name: "empty", key: key, token: "", binding: binding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeToken(tt.key, tt.token, tt.binding)
			if tt.want != nil {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("decodeToken = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var api *APIError
			if !errors.As(err, &api) || api.Status != http.StatusBadRequest || api.Type != BadRequest {
				t.Fatalf("decodeToken(%q) = %q, %v; want a 400 BadRequestException", tt.token, got, err)
			}
		})
	}
}

func TestEncodeTokenNoNextPage(t *testing.T) {
	t.Parallel()
	if got := encodeToken([]byte("k"), nil, "b"); got != "" {
		t.Errorf("encodeToken(nil cursor) = %q, want \"\" (the last page has no nextToken)", got)
	}
}
