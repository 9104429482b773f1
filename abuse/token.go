package abuse

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Confirmation tokens: "dbc-" and 26 base32 characters (130 bits), easy
// to find again in a reply whatever the mail client did to the subject
// and however it quoted the body.
const tokenPrefix = "dbc-"

var tokenRE = regexp.MustCompile(`(?i)\bdbc-[a-z2-7]{26}\b`)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewToken returns a fresh one-time token.
func NewToken(rnd io.Reader) (string, error) {
	var b [17]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("abuse: token: %w", err)
	}
	return tokenPrefix + strings.ToLower(b32.EncodeToString(b[:])[:26]), nil
}

// FindTokens returns the distinct tokens in text, lower case, at most 4.
func FindTokens(text string) []string {
	if len(text) > maxBodyScan+1000 {
		text = text[:maxBodyScan+1000]
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range tokenRE.FindAllString(text, 16) {
		t = strings.ToLower(t)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
		if len(out) == 4 {
			break
		}
	}
	return out
}

// TokenHash is what is stored of a pending token: a copied state file
// does not let anyone confirm.
func TokenHash(token string) string {
	s := sha256.Sum256([]byte(strings.ToLower(token)))
	return hex.EncodeToString(s[:])
}
