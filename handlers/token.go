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
	raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimSpace(token))
	if err != nil || len(raw) <= tokenMACLen {
		return nil, badRequest("Invalid nextToken: it was not issued by this server for this request.")
	}
	cursor, mac := raw[:len(raw)-tokenMACLen], raw[len(raw)-tokenMACLen:]
	if !hmac.Equal(mac, tokenMAC(key, cursor, binding)) {
		return nil, badRequest("Invalid nextToken: it was not issued by this server for this request.")
	}
	return cursor, nil
}
