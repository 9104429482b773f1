package doctor

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// tagList is a parsed DKIM/DMARC tag list (RFC 6376 §3.2): name=value
// pairs separated by ';', names in the order given.
type tagList struct {
	names []string
	vals  map[string]string
}

func (t *tagList) get(name string) (string, bool) {
	v, ok := t.vals[name]
	return v, ok
}

// parseTags reads a tag list. A malformed or repeated tag makes the whole
// list invalid, as RFC 6376 says.
func parseTags(s string) (*tagList, error) {
	t := &tagList{vals: map[string]string{}}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue // a final ';' is allowed
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("tag %q has no '='", clip(part))
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !validTagName(name) {
			return nil, fmt.Errorf("bad tag name %q", clip(name))
		}
		if _, dup := t.vals[name]; dup {
			return nil, fmt.Errorf("tag %q given twice", name)
		}
		t.names = append(t.names, name)
		t.vals[name] = val
	}
	return t, nil
}

// validTagName is ALPHA *(ALPHA / DIGIT / "_").
func validTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// clip shortens untrusted text quoted in a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// dkimKey is what a DKIM key record publishes.
type dkimKey struct {
	kind    string // "rsa" or "ed25519"
	revoked bool   // empty p=
	pub     crypto.PublicKey
}

// parseDKIMRecord reads a DKIM key record (RFC 6376 §3.6.1, RFC 8463).
func parseDKIMRecord(s string) (*dkimKey, error) {
	t, err := parseTags(s)
	if err != nil {
		return nil, err
	}
	if v, ok := t.get("v"); ok && (v != "DKIM1" || t.names[0] != "v") {
		return nil, fmt.Errorf("v= must come first and be DKIM1")
	}
	k := &dkimKey{kind: "rsa"}
	if v, ok := t.get("k"); ok {
		k.kind = strings.ToLower(v)
	}
	p, ok := t.get("p")
	if !ok {
		return nil, fmt.Errorf("no p= tag")
	}
	p = strings.Join(strings.Fields(p), "")
	if p == "" {
		k.revoked = true
		return k, nil
	}
	raw, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("p= is not base64")
	}
	switch k.kind {
	case "rsa":
		pub, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			// Some publish the bare PKCS#1 key; verifiers accept it.
			if r, err2 := x509.ParsePKCS1PublicKey(raw); err2 == nil {
				pub, err = r, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("p= holds no RSA public key")
		}
		if _, ok := pub.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("k=rsa but p= holds a %T", pub)
		}
		k.pub = pub
	case "ed25519":
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("p= is not a 32-byte Ed25519 key")
		}
		k.pub = ed25519.PublicKey(raw)
	default:
		return nil, fmt.Errorf("unknown key type k=%s", clip(k.kind))
	}
	return k, nil
}

// samePublicKey compares public keys of any supported type.
func samePublicKey(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && e.Equal(b)
}

// dmarcRecord is a DMARC policy record (RFC 7489 §6.3).
type dmarcRecord struct {
	policy    string // p=: none, quarantine, reject
	subPolicy string // sp=, "" if not given
	rua       string
}

// parseDMARC reads a DMARC record: v=DMARC1 first, then a valid p=.
func parseDMARC(s string) (*dmarcRecord, error) {
	t, err := parseTags(s)
	if err != nil {
		return nil, err
	}
	if len(t.names) == 0 || t.names[0] != "v" || t.vals["v"] != "DMARC1" {
		return nil, fmt.Errorf("the record must start with v=DMARC1")
	}
	d := &dmarcRecord{rua: t.vals["rua"]}
	p, ok := t.get("p")
	if !ok {
		return nil, fmt.Errorf("no p= policy")
	}
	d.policy = strings.ToLower(p)
	if sp, ok := t.get("sp"); ok {
		d.subPolicy = strings.ToLower(sp)
	}
	for _, v := range []string{d.policy, d.subPolicy} {
		switch v {
		case "", "none", "quarantine", "reject":
		default:
			return nil, fmt.Errorf("unknown policy %q", clip(v))
		}
	}
	if d.policy == "" {
		return nil, fmt.Errorf("empty p= policy")
	}
	return d, nil
}

// isDMARC tells whether a TXT string claims to be a DMARC record (those
// that do not are ignored, as RFC 7489 §6.6.3 says).
func isDMARC(s string) bool {
	v, _, _ := strings.Cut(s, ";")
	return strings.ReplaceAll(strings.TrimSpace(v), " ", "") == "v=DMARC1"
}
