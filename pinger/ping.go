package pinger

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

// A ping is a real Type II message through one remailer (or two, a chain
// ping) to the pinger's own address. Its body is a token:
//
//	-----BEGIN MIXGO PING-----
//	base64( IV(16) ‖ AES-256-CTR(encKey, IV, plaintext) ), 64 columns
//	-----END MIXGO PING-----
//
// with the plaintext
//
//	remailers: a@x,b@y
//	keys: <hex key id>,<hex key id>
//	sent: <Unix time in ns>
//	nonce: <32 hex>
//	mac: <hex HMAC-SHA256(macKey, "mixgo-ping-v1\n" + the four lines above)>
//	garbage: <random hex, random length>
//
// The MAC makes tokens unforgeable without the pinger's secret; the nonce,
// which the store must hold as outstanding, makes a replay count nothing.
// The encryption hides from the exit remailer which remailers a ping went
// through and when it was sent, so a remailer cannot treat pings better,
// nor sabotage the chain pings of another remailer without hurting its own
// figures (Echolot encrypts its bodies with GnuPG for the same reasons).
// Both keys derive from the 32-byte secret in the store.

const (
	tokenBegin = "-----BEGIN MIXGO PING-----"
	tokenEnd   = "-----END MIXGO PING-----"
	macLabel   = "mixgo-ping-v1\n"
	// maxToken bounds the armoured token a receiver will look at.
	maxToken = 64 << 10
)

// ErrBadToken means a mail carries no valid ping token: none at all, bad
// armour, or a MAC that does not verify.
var ErrBadToken = errors.New("pinger: no valid ping token")

// Token is what a ping carries.
type Token struct {
	Remailers []string // addresses in sending order
	KeyIDs    []string // hex key IDs, same order
	Sent      time.Time
	Nonce     [NonceSize]byte
}

type tokenKeys struct {
	mac, enc []byte
}

func deriveKeys(secret []byte) tokenKeys {
	d := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return tokenKeys{mac: d("mixgo pinger mac"), enc: d("mixgo pinger enc")}
}

// fields is the MAC'd part of the plaintext.
func (t Token) fields() string {
	return "remailers: " + strings.Join(t.Remailers, ",") + "\n" +
		"keys: " + strings.Join(t.KeyIDs, ",") + "\n" +
		"sent: " + strconv.FormatInt(t.Sent.UnixNano(), 10) + "\n" +
		"nonce: " + hex.EncodeToString(t.Nonce[:]) + "\n"
}

func (k tokenKeys) sum(fields string) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(macLabel))
	m.Write([]byte(fields))
	return m.Sum(nil)
}

// SealToken returns the armoured token, with garbage random bytes (as hex)
// of padding so ping sizes vary.
func SealToken(secret []byte, t Token, garbage int, rnd io.Reader) ([]byte, error) {
	k := deriveKeys(secret)
	f := t.fields()
	pad := make([]byte, garbage)
	if _, err := io.ReadFull(rnd, pad); err != nil {
		return nil, err
	}
	plain := f + "mac: " + hex.EncodeToString(k.sum(f)) + "\n" + "garbage: " + hex.EncodeToString(pad) + "\n"
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k.enc)
	if err != nil {
		return nil, err
	}
	ct := make([]byte, len(iv)+len(plain))
	copy(ct, iv)
	cipher.NewCTR(block, iv).XORKeyStream(ct[len(iv):], []byte(plain))
	enc := base64.StdEncoding.EncodeToString(ct)
	var b bytes.Buffer
	b.WriteString(tokenBegin + "\n")
	for len(enc) > 0 {
		n := min(64, len(enc))
		b.WriteString(enc[:n] + "\n")
		enc = enc[n:]
	}
	b.WriteString(tokenEnd + "\n")
	return b.Bytes(), nil
}

// OpenToken finds the token in a mail or body and checks it. Text around
// the armour (headers, a remailer's disclaimer) is ignored; so are CRs and
// line breaks inside it.
func OpenToken(secret []byte, mail []byte) (Token, error) {
	var t Token
	i := bytes.Index(mail, []byte(tokenBegin))
	if i < 0 {
		return t, fmt.Errorf("%w: no token", ErrBadToken)
	}
	rest := mail[i+len(tokenBegin):]
	j := bytes.Index(rest, []byte(tokenEnd))
	if j < 0 || j > maxToken {
		return t, fmt.Errorf("%w: token not closed", ErrBadToken)
	}
	b64 := strings.Join(strings.Fields(string(rest[:j])), "")
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(ct) < aes.BlockSize {
		return t, fmt.Errorf("%w: bad armour", ErrBadToken)
	}
	k := deriveKeys(secret)
	block, err := aes.NewCipher(k.enc)
	if err != nil {
		return t, err
	}
	plain := make([]byte, len(ct)-aes.BlockSize)
	cipher.NewCTR(block, ct[:aes.BlockSize]).XORKeyStream(plain, ct[aes.BlockSize:])

	vals := map[string]string{}
	for _, line := range strings.Split(string(plain), "\n") {
		name, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if _, dup := vals[name]; dup {
			return t, fmt.Errorf("%w: field %q twice", ErrBadToken, name)
		}
		vals[name] = v
	}
	sent, err := strconv.ParseInt(vals["sent"], 10, 64)
	if err != nil {
		return t, fmt.Errorf("%w: no send time", ErrBadToken)
	}
	nonce, err := hex.DecodeString(vals["nonce"])
	if err != nil || len(nonce) != NonceSize {
		return t, fmt.Errorf("%w: no nonce", ErrBadToken)
	}
	t.Sent = time.Unix(0, sent)
	t.Nonce = [NonceSize]byte(nonce)
	if vals["remailers"] != "" {
		t.Remailers = strings.Split(vals["remailers"], ",")
	}
	if vals["keys"] != "" {
		t.KeyIDs = strings.Split(vals["keys"], ",")
	}
	mac, err := hex.DecodeString(vals["mac"])
	if err != nil || !hmac.Equal(mac, k.sum(t.fields())) {
		return Token{}, fmt.Errorf("%w: MAC does not verify", ErrBadToken)
	}
	if len(t.Remailers) == 0 || len(t.Remailers) != len(t.KeyIDs) {
		return Token{}, fmt.Errorf("%w: %d remailers, %d keys", ErrBadToken, len(t.Remailers), len(t.KeyIDs))
	}
	return t, nil
}

// PingMail is one e-mail to hand to the first hop.
type PingMail struct {
	To   string // the first hop's address
	Data []byte // the whole mail
}

// BuildPing makes the mails of one ping through hops (in sending order) to
// the pinger's address from: a Type II message whose body is the token.
// The token's remailers and keys are taken from hops.
func BuildPing(rnd io.Reader, now time.Time, secret []byte, from string, hops []*keyring.PublicKey, garbageMax int) (Token, []PingMail, error) {
	var t Token
	if len(hops) == 0 {
		return t, nil, packet.ErrEmptyChain
	}
	t.Sent = now
	if _, err := io.ReadFull(rnd, t.Nonce[:]); err != nil {
		return t, nil, err
	}
	path := make([]packet.Hop, len(hops))
	for i, h := range hops {
		if h.Key == nil {
			return t, nil, fmt.Errorf("pinger: no key for %s", h.Address)
		}
		t.Remailers = append(t.Remailers, h.Address)
		t.KeyIDs = append(t.KeyIDs, hex.EncodeToString(h.KeyID[:]))
		path[i] = h.Hop()
	}
	garbage := 0
	if garbageMax > 0 {
		n, err := randInt(rnd, int64(garbageMax)+1)
		if err != nil {
			return t, nil, err
		}
		garbage = int(n)
	}
	body, err := SealToken(secret, t, garbage, rnd)
	if err != nil {
		return t, nil, err
	}
	msg := &packet.Message{Destinations: []string{from}, Body: body}
	exit := hops[len(hops)-1]
	out, err := packet.BuildMessage(rnd, now, msg, exit.Caps.Compress(), 1,
		func(int, int) ([]packet.Hop, error) { return path, nil })
	if err != nil {
		return t, nil, fmt.Errorf("pinger: building the ping: %w", err)
	}
	mails := make([]PingMail, len(out))
	for i, o := range out {
		mails[i] = PingMail{To: o.To, Data: packet.ArmorMail(packet.Envelope{From: from, To: o.To}, packet.Version, o.Packet)}
	}
	return t, mails, nil
}

// randInt returns a uniform integer in [0, n) from rnd.
func randInt(rnd io.Reader, n int64) (int64, error) {
	if n <= 1 {
		return 0, nil
	}
	v, err := crand.Int(rnd, big.NewInt(n))
	if err != nil {
		return 0, err
	}
	return v.Int64(), nil
}
