package caller

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
)

// NewKeyPair makes an AWS-shaped key pair from crypto/rand: an access key
// id of prefix and 16 characters of [A-Z2-7] (80 random bits), and a
// 40-character base64 secret (240 bits). Long-lived keys and sign-in
// sessions differ only in their prefix.
func NewKeyPair(prefix string) (id, secret string, err error) {
	b := make([]byte, 10+30)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random key: %w", err)
	}
	return prefix + base32.StdEncoding.EncodeToString(b[:10]), base64.StdEncoding.EncodeToString(b[10:]), nil
}
