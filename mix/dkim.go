package mix

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMKeyFile is the DKIM signing key `mixd init` writes.
const DKIMKeyFile = "dkim.key"

// dkimBits is the size of the DKIM key made at init: 2048-bit RSA is what
// every verifier accepts (Ed25519 is not checked by the large providers).
const dkimBits = 2048

// oversigned are header fields signed once more than they occur, so that
// nobody can add one after signing without breaking the signature.
var oversigned = []string{"From", "To", "Cc", "Subject", "Reply-To", "Message-ID", "Date"}

// GenerateDKIMKey returns a new RSA key as PKCS#8 PEM.
func GenerateDKIMKey() ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, dkimBits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseDKIMKey reads a PEM private key (PKCS#8, or PKCS#1 "RSA PRIVATE
// KEY" as opendkim-genkey writes) usable for DKIM: RSA or Ed25519.
func ParseDKIMKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("dkim_key: no PEM block")
	}
	var key any
	var err error
	if b.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("dkim_key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dkim_key: unsupported key type %T", key)
	}
	if _, err := DKIMRecord(s.Public()); err != nil {
		return nil, err
	}
	return s, nil
}

// DKIMRecord is the value of the TXT record publishing pub.
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		// RFC 8463: an Ed25519 record holds the bare 32-byte key.
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p), nil
	}
	return "", fmt.Errorf("dkim_key: unsupported key type %T", pub)
}

// DKIMDomain is the signing domain (d=): dkim_domain, else the address's.
func (c *Config) DKIMDomain() string {
	if c.DKIMDomainName != "" {
		return c.DKIMDomainName
	}
	return c.Domain()
}

// DKIMRecordName is where the key is published.
func (c *Config) DKIMRecordName() string {
	return c.DKIMSelector + "._domainkey." + c.DKIMDomain() + "."
}

// LoadDKIMKey reads the node's signing key; nil when dkim_key is not set.
func LoadDKIMKey(dir string, cfg *Config) (crypto.Signer, error) {
	if cfg.DKIMKey == "" {
		return nil, nil
	}
	return dkimKeys.load((&Node{Dir: dir}).path(cfg.DKIMKey))
}

// dkimKeys caches parsed keys by path, re-read when the file changes (a key
// rotation needs no restart).
var dkimKeys = &dkimKeyCache{m: map[string]cachedDKIMKey{}}

type cachedDKIMKey struct {
	stamp fileStamp
	key   crypto.Signer
}

type dkimKeyCache struct {
	mu sync.Mutex
	m  map[string]cachedDKIMKey
}

func (c *dkimKeyCache) load(path string) (crypto.Signer, error) {
	st, err := stampOf(path)
	if err != nil {
		return nil, fmt.Errorf("dkim_key: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[path]; ok && e.stamp == st {
		return e.key, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dkim_key: %w", err)
	}
	k, err := ParseDKIMKey(data)
	if err != nil {
		return nil, err
	}
	c.m[path] = cachedDKIMKey{st, k}
	return k, nil
}

// signFinal adds a DKIM-Signature to a final message when dkim_key is set.
// The line ends become CRLF first: that is how mailout sends it, and what
// the signature covers.
func (n *Node) signFinal(msg []byte) ([]byte, error) {
	key, err := LoadDKIMKey(n.Dir, n.Cfg)
	if err != nil || key == nil {
		return msg, err
	}
	signed, err := SignDKIM(msg, n.Cfg.DKIMDomain(), n.Cfg.DKIMSelector, key)
	if err != nil {
		// The message, not the key, is at fault: it leaves as it would
		// without DKIM rather than never.
		n.counts.Inc("dkim-unsignable")
		n.Log.Debug("final message not DKIM-signed", "err", err)
		return msg, nil
	}
	return signed, nil
}

// errUnsignable is a message whose header a signature cannot go before.
var errUnsignable = errors.New("dkim signing: the message starts with a continuation line")

// SignDKIM returns msg (headers, blank line, body) with CRLF line ends and
// a DKIM-Signature header (relaxed/relaxed, rsa-sha256 or ed25519-sha256)
// covering every header present, with the usual fields oversigned.
func SignDKIM(msg []byte, domain, selector string, key crypto.Signer) ([]byte, error) {
	if len(msg) > 0 && (msg[0] == ' ' || msg[0] == '\t') {
		// Put after a DKIM-Signature, it would become part of it.
		return nil, errUnsignable
	}
	msg = crlf(msg)
	keys := append(headerNames(msg), oversigned...)
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	})
	if err != nil {
		return nil, fmt.Errorf("dkim signing: %w", err)
	}
	return out.Bytes(), nil
}

// crlf turns every line end (CRLF, LF or a lone CR) into CRLF, as mailout
// does on the wire; a message without a header/body separator gets one.
func crlf(msg []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/32 + 4)
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; c {
		case '\r':
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			b.WriteString("\r\n")
		case '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
	out := b.Bytes()
	if !bytes.Contains(out, []byte("\r\n\r\n")) && !bytes.HasPrefix(out, []byte("\r\n")) {
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			out = append(out, "\r\n"...)
		}
		out = append(out, "\r\n"...)
	}
	return out
}

// headerNames lists the names of the header fields of a CRLF message, one
// per field, so that every occurrence is signed.
func headerNames(msg []byte) []string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var names []string
	for _, line := range strings.Split(string(head), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		// Lines that are no plain field stay unsigned: h= cannot name them.
		if name, _, ok := strings.Cut(line, ":"); ok && validFieldName(strings.TrimRight(name, " \t")) {
			names = append(names, strings.TrimRight(name, " \t"))
		}
	}
	return names
}

// validFieldName accepts the names h= can carry: RFC 5322 allows any
// printable ASCII but ':', yet ';' or '=' would break the tag list, so
// only letters, digits, '-', '_' and '.' (every real header name).
func validFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}
