package keyring

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Golden data written by the real Mixmaster 3.0.2d (see its README.md).
const vectorDir = "../testdata/mixmaster"

var vectorNames = []string{"alpha", "bravo", "charlie", "delta", "echo"}

type vectorKey struct {
	Bits            int    `json:"bits"`
	KeyID           string `json:"keyid"`
	Address         string `json:"address"`
	Passphrase      string `json:"passphrase"`
	LengthLine      int    `json:"length_line"`
	PublicBlobLen   int    `json:"public_blob_len"`
	SecretPlainLen  int    `json:"secret_plain_len"`
	SecretPaddedLen int    `json:"secret_padded_len"`
	Created         string `json:"created"`
	Expires         string `json:"expires"`
	E               int    `json:"e"`
}

func readVector(t testing.TB, rel ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{vectorDir}, rel...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vectorKeys(t testing.TB) map[string]vectorKey {
	t.Helper()
	var m map[string]vectorKey
	if err := json.Unmarshal(readVector(t, "keys", "keys.json"), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != len(vectorNames) {
		t.Fatalf("keys.json has %d keys, want %d", len(m), len(vectorNames))
	}
	return m
}

func mustDate(t testing.TB, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func decodeHexFile(t testing.TB, rel ...string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimSpace(string(readVector(t, rel...))))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSecringVectors(t *testing.T) {
	meta := vectorKeys(t)
	for _, name := range vectorNames {
		t.Run(name, func(t *testing.T) {
			want := meta[name]
			pass := readVector(t, "keys", name, "passphrase.txt")
			if string(pass) != want.Passphrase {
				t.Fatalf("passphrase.txt = %q, keys.json says %q", pass, want.Passphrase)
			}
			keys, errs := ParseSecring(readVector(t, "keys", name, "secring.mix"), pass)
			if len(errs) != 0 {
				t.Fatalf("errors: %v", errs)
			}
			if len(keys) != 1 {
				t.Fatalf("got %d keys, want 1", len(keys))
			}
			k := keys[0]
			if got := hex.EncodeToString(k.KeyID[:]); got != want.KeyID {
				t.Errorf("key ID %s, want %s", got, want.KeyID)
			}
			if got := KeyIDOf(&k.Key.PublicKey); got != k.KeyID {
				t.Errorf("KeyIDOf = %x, entry ID %x", got, k.KeyID)
			}
			if got := k.Key.N.BitLen(); got != want.Bits {
				t.Errorf("bits %d, want %d", got, want.Bits)
			}
			if k.Key.E != want.E {
				t.Errorf("e = %d, want %d", k.Key.E, want.E)
			}
			if !k.Created.Equal(mustDate(t, want.Created)) || !k.Expires.Equal(mustDate(t, want.Expires)) {
				t.Errorf("dates %v / %v, want %s / %s", k.Created, k.Expires, want.Created, want.Expires)
			}
			blk, _ := pem.Decode(readVector(t, "keys", name, "private-pkcs1.pem"))
			if blk == nil {
				t.Fatal("no PEM block in private-pkcs1.pem")
			}
			pk, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !pk.Equal(k.Key) || pk.Primes[0].Cmp(k.Key.Primes[0]) != 0 || pk.Primes[1].Cmp(k.Key.Primes[1]) != 0 {
				t.Error("private key differs from private-pkcs1.pem")
			}
			if k.Key.Precomputed.Qinv.Cmp(pk.Precomputed.Qinv) != 0 {
				t.Error("qinv differs from private-pkcs1.pem")
			}
		})
	}
}

func TestParseSecringWrongPassphrase(t *testing.T) {
	for _, name := range vectorNames {
		t.Run(name, func(t *testing.T) {
			pass := readVector(t, "keys", name, "passphrase.txt")
			wrong := append(append([]byte(nil), pass...), 'x')
			keys, errs := ParseSecring(readVector(t, "keys", name, "secring.mix"), wrong)
			if len(keys) != 0 || len(errs) != 1 {
				t.Fatalf("got %d keys and %d errors, want 0 and 1", len(keys), len(errs))
			}
			if !errors.Is(errs[0], ErrPassphrase) {
				t.Fatalf("error %v does not wrap ErrPassphrase", errs[0])
			}
			if !strings.Contains(errs[0].Error(), "entry 1 (line 1)") {
				t.Errorf("error %q does not say which entry", errs[0])
			}
		})
	}
}

// secringIV returns the IV line of a one-entry secring.mix.
func secringIV(t *testing.T, data []byte) []byte {
	t.Helper()
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if l == "0" && i+1 < len(lines) {
			iv, err := base64.StdEncoding.DecodeString(lines[i+1])
			if err != nil {
				t.Fatal(err)
			}
			return iv
		}
	}
	t.Fatal("no IV line")
	return nil
}

func TestEncodeSecretKeyVectors(t *testing.T) {
	meta := vectorKeys(t)
	for _, name := range vectorNames {
		t.Run(name, func(t *testing.T) {
			want := meta[name]
			file := readVector(t, "keys", name, "secring.mix")
			pass := readVector(t, "keys", name, "passphrase.txt")
			keys, errs := ParseSecring(file, pass)
			if len(errs) != 0 || len(keys) != 1 {
				t.Fatalf("ParseSecring: %d keys, errors %v", len(keys), errs)
			}
			plain := decodeHexFile(t, "keys", name, "secret-key-decrypted.hex")
			if len(plain) != want.SecretPaddedLen {
				t.Fatalf("decrypted blob is %d bytes, keys.json says %d", len(plain), want.SecretPaddedLen)
			}
			if _, _, n := secretSizes(want.Bits); n != want.SecretPlainLen {
				t.Fatalf("secretSizes(%d) plain = %d, keys.json says %d", want.Bits, n, want.SecretPlainLen)
			}
			rnd := bytes.NewReader(append(secringIV(t, file), plain[want.SecretPlainLen:]...))
			got, err := EncodeSecretKey(rnd, keys[0], pass)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, file) {
				t.Errorf("EncodeSecretKey differs from secring.mix\ngot:\n%s\nwant:\n%s", got, file)
			}
			if rnd.Len() != 0 {
				t.Errorf("%d random bytes left unread", rnd.Len())
			}
		})
	}
}

func TestParsePubringVectors(t *testing.T) {
	meta := vectorKeys(t)
	keys, errs := ParsePubring(readVector(t, "pubring.mix"))
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(keys) != len(vectorNames) {
		t.Fatalf("got %d keys, want %d", len(keys), len(vectorNames))
	}
	var lines []string
	for i, k := range keys {
		name := vectorNames[i]
		want := meta[name]
		if k.Name != name || k.Address != want.Address || k.Version != "2:3.0.2d" {
			t.Errorf("%d: got %q %q %q", i, k.Name, k.Address, k.Version)
		}
		wantCaps := Caps("C")
		if name == "alpha" {
			wantCaps = "CNm"
		}
		if k.Caps != wantCaps {
			t.Errorf("%s: caps %q, want %q", name, k.Caps, wantCaps)
		}
		if got := hex.EncodeToString(k.KeyID[:]); got != want.KeyID {
			t.Errorf("%s: key ID %s, want %s", name, got, want.KeyID)
		}
		if k.Bits() != want.Bits || k.Key.E != want.E {
			t.Errorf("%s: %d bits e=%d, want %d bits e=%d", name, k.Bits(), k.Key.E, want.Bits, want.E)
		}
		if !k.Created.Equal(mustDate(t, want.Created)) || !k.Expires.Equal(mustDate(t, want.Expires)) {
			t.Errorf("%s: dates %v / %v", name, k.Created, k.Expires)
		}
		if got, want := k.KeyTxt(), readVector(t, "keys", name, "key.txt"); !bytes.Equal(got, want) {
			t.Errorf("%s: KeyTxt differs from key.txt\ngot:\n%s\nwant:\n%s", name, got, want)
		}
		blob, err := EncodePublicBlob(k.Key)
		if err != nil {
			t.Fatal(err)
		}
		if want := decodeHexFile(t, "keys", name, "public-key-blob.hex"); !bytes.Equal(blob, want) {
			t.Errorf("%s: EncodePublicBlob differs from public-key-blob.hex", name)
		}
		if len(blob) != want.PublicBlobLen || len(blob) != want.LengthLine {
			t.Errorf("%s: blob is %d bytes, want %d", name, len(blob), want.PublicBlobLen)
		}
		back, err := DecodePublicBlob(blob)
		if err != nil || !back.Equal(k.Key) {
			t.Errorf("%s: DecodePublicBlob round trip: %v", name, err)
		}
		hop := k.Hop()
		if hop.Address != want.Address || hop.KeyID != k.KeyID || hop.Key != k.Key {
			t.Errorf("%s: Hop = %+v", name, hop)
		}
		if wantSlots := map[bool]int{true: 1, false: 2}[want.Bits == 1024]; hop.Slots() != wantSlots {
			t.Errorf("%s: hop uses %d slots, want %d", name, hop.Slots(), wantSlots)
		}
		lines = append(lines, k.Type2Line()+"\n")
	}
	if got, want := strings.Join(lines, ""), string(readVector(t, "type2.list")); got != want {
		t.Errorf("Type2Line()s:\n%s\nwant type2.list:\n%s", got, want)
	}
}

// The secret and public rings of each remailer describe the same key.
func TestSecretMatchesPublicVectors(t *testing.T) {
	for _, name := range vectorNames {
		pub, errs := ParsePubring(readVector(t, "keys", name, "key.txt"))
		if len(errs) != 0 || len(pub) != 1 {
			t.Fatalf("%s key.txt: %d keys, %v", name, len(pub), errs)
		}
		sec, errs := ParseSecring(readVector(t, "keys", name, "secring.mix"), readVector(t, "keys", name, "passphrase.txt"))
		if len(errs) != 0 || len(sec) != 1 {
			t.Fatalf("%s secring: %d keys, %v", name, len(sec), errs)
		}
		p := sec[0].Public(pub[0].Name, pub[0].Address, pub[0].Version, pub[0].Caps)
		if got, want := p.KeyTxt(), readVector(t, "keys", name, "key.txt"); !bytes.Equal(got, want) {
			t.Errorf("%s: Public().KeyTxt() differs from key.txt", name)
		}
		ring := NewSecring(sec)
		if ring.SecretKey(pub[0].KeyID) != sec[0].Key {
			t.Errorf("%s: Secring.SecretKey did not find the key", name)
		}
	}
}

func TestParseType2ListVectors(t *testing.T) {
	data := readVector(t, "type2.list")
	list, errs := ParseType2List(data)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	ring, _ := ParsePubring(readVector(t, "pubring.mix"))
	if len(list) != len(ring) {
		t.Fatalf("type2.list has %d entries, pubring.mix %d", len(list), len(ring))
	}
	var out strings.Builder
	for i, k := range list {
		if k.Key != nil {
			t.Errorf("%s: type2.list entry has a key", k.Name)
		}
		r := *ring[i]
		r.Key = nil
		if *k != r {
			t.Errorf("entry %d: %+v, pubring.mix says %+v", i, *k, r)
		}
		out.WriteString(k.Type2Line() + "\n")
	}
	if out.String() != string(data) {
		t.Errorf("round trip:\n%s\nwant:\n%s", out.String(), data)
	}
}
