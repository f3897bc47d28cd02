package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Pagination tokens are opaque to clients: a store cursor plus a MAC that
// binds it to this store's key and to the request it came from (app,
// environment and filters), so an altered, forged or transplanted token is
// refused with a 400 instead of paging somewhere unexpected.

const tokenMACLen = 16

func tokenMAC(key []byte, cursor []byte, binding string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(binding))
	m.Write([]byte{0})
	m.Write(cursor)
	return m.Sum(nil)[:tokenMACLen]
}

// encodeToken returns the token for cursor, or "" for no next page.
func encodeToken(key, cursor []byte, binding string) string {
	if cursor == nil {
		return ""
	}
	raw := append(append([]byte{}, cursor...), tokenMAC(key, cursor, binding)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeToken returns the cursor in token, or a BadRequest if the token was
// not issued for this binding by this store.
func decodeToken(key []byte, token, binding string) ([]byte, error) {
	token = strings.TrimSpace(token)
	// The decoder skips CR and LF anywhere, even in strict mode; a token
	// is only ever the alphabet, so anything else is not one we issued.
	if strings.IndexFunc(token, func(c rune) bool {
		return !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_')
	}) >= 0 {
		return nil, invalidToken()
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) <= tokenMACLen {
		return nil, invalidToken()
	}
	cursor, mac := raw[:len(raw)-tokenMACLen], raw[len(raw)-tokenMACLen:]
	if !hmac.Equal(mac, tokenMAC(key, cursor, binding)) {
		return nil, invalidToken()
	}
	return cursor, nil
}

func invalidToken() error {
	return errNextToken.with()
}
