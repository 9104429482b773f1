package mix

import (
	"bytes"
	"crypto"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// The remailer's OpenPGP admin key signs its key and help answers, so
// that a client can tell them from forgeries; remailer-adminkey sends the
// public part (3.0.2d's ADMKEYFILE).
const (
	AdminKeyFile    = "adminkey.txt" // armoured public key, sent as it is
	AdminSecretFile = "adminkey.sec" // armoured secret key, encrypted with the passphrase, mode 0600
)

func adminKeyConfig(now time.Time) *packet.Config {
	return &packet.Config{
		// Ed25519 (v4 keys, readable by GnuPG 2.1 and later): made in
		// microseconds, signatures are small.
		Algorithm:   packet.PubKeyAlgoEdDSA,
		Curve:       packet.Curve25519,
		DefaultHash: crypto.SHA256,
		Time:        func() time.Time { return now },
	}
}

// pgpName keeps an identity part free of the characters OpenPGP user IDs
// cannot hold.
func pgpName(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("()<>\x00\r\n", r) {
			return -1
		}
		return r
	}, s)
}

// generateAdminKey makes a new admin key for cfg: its armoured public key
// and its armoured secret key, encrypted with pass (left clear when pass
// is empty, as secring.mix is then).
func generateAdminKey(cfg *Config, pass []byte, now time.Time) (pub, sec []byte, err error) {
	conf := adminKeyConfig(now)
	e, err := openpgp.NewEntity(pgpName(cfg.RemailerName), pgpName(cfg.Name+" remailer admin key"), cfg.Address, conf)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the admin key: %w", err)
	}
	var pb bytes.Buffer
	w, err := armor.Encode(&pb, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, nil, fmt.Errorf("writing the admin key: %w", err)
	}
	w.Close()
	pb.WriteByte('\n')
	if len(pass) > 0 {
		if err := e.EncryptPrivateKeys(pass, conf); err != nil {
			return nil, nil, fmt.Errorf("encrypting the admin key: %w", err)
		}
	}
	var sb bytes.Buffer
	w, err = armor.Encode(&sb, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := e.SerializePrivateWithoutSigning(w, conf); err != nil {
		return nil, nil, fmt.Errorf("writing the admin key: %w", err)
	}
	w.Close()
	sb.WriteByte('\n')
	return pb.Bytes(), sb.Bytes(), nil
}

// loadAdminKey reads and decrypts the admin secret key.
func loadAdminKey(path string, pass []byte) (*openpgp.Entity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	list, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(list) != 1 || list[0].PrivateKey == nil {
		return nil, fmt.Errorf("%s: expected one secret key", path)
	}
	e := list[0]
	if e.PrivateKey.Encrypted {
		if err := e.DecryptPrivateKeys(pass); err != nil {
			return nil, fmt.Errorf("%s: wrong passphrase? %w", path, err)
		}
	}
	return e, nil
}

// clearsignText signs text as an OpenPGP clear-signed message (RFC 9580
// §7). Lines starting with '-' come out dash-escaped ("- -----Begin Mix
// Key-----"); Echolot undoes that before it parses key answers.
func clearsignText(e *openpgp.Entity, text []byte, now time.Time) ([]byte, error) {
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, e.PrivateKey, adminKeyConfig(now))
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if _, err := w.Write(text); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}

// VerifyClearsigned checks a clear-signed text against an armoured public
// key (an adminkey.txt) and returns the signed text.
func VerifyClearsigned(signed, armoredKey []byte) ([]byte, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredKey))
	if err != nil {
		return nil, fmt.Errorf("reading the admin key: %w", err)
	}
	b, _ := clearsign.Decode(signed)
	if b == nil {
		return nil, fmt.Errorf("no clear-signed message found")
	}
	if _, err := b.VerifySignature(keys, nil); err != nil {
		return nil, fmt.Errorf("bad signature: %w", err)
	}
	return b.Plaintext, nil
}
