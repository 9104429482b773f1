package keyring

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/packet"
)

// 3072- and 4096-bit generation can take seconds, so tests generate only
// the two small sizes; the vectors cover encoding and decoding of all four.
func TestGenerateRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 24, 15, 4, 5, 0, time.UTC)
	for _, bits := range []int{1024, 2048} {
		for _, lifetime := range []time.Duration{180 * 24 * time.Hour, 0} {
			sk, err := Generate(bits, now, lifetime)
			if err != nil {
				t.Fatal(err)
			}
			if sk.Key.N.BitLen() != bits || sk.Key.E != 65537 || sk.KeyID != KeyIDOf(&sk.Key.PublicKey) {
				t.Fatalf("%d: generated %d bits, e=%d", bits, sk.Key.N.BitLen(), sk.Key.E)
			}
			if !sk.Created.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("Created = %v", sk.Created)
			}
			wantExp := time.Time{}
			if lifetime != 0 {
				wantExp = time.Date(2027, 5, 23, 0, 0, 0, 0, time.UTC)
			}
			if !sk.Expires.Equal(wantExp) {
				t.Errorf("Expires = %v, want %v", sk.Expires, wantExp)
			}

			// Public side: key.txt → ParsePubring.
			pub := sk.Public("new", "new@remailer.test", "2:3.0.2d", "MC")
			txt := pub.KeyTxt()
			keys, errs := ParsePubring(txt)
			if len(errs) != 0 || len(keys) != 1 {
				t.Fatalf("%d: ParsePubring(KeyTxt): %d keys, %v\n%s", bits, len(keys), errs, txt)
			}
			got := keys[0]
			if got.Name != "new" || got.Address != "new@remailer.test" || got.Caps != "MC" || got.KeyID != sk.KeyID ||
				!got.Key.Equal(&sk.Key.PublicKey) || !got.Created.Equal(sk.Created) || !got.Expires.Equal(sk.Expires) {
				t.Errorf("%d: round trip gave %+v", bits, got)
			}
			if !bytes.Equal(got.KeyTxt(), txt) {
				t.Errorf("%d: KeyTxt not stable", bits)
			}

			// Secret side: EncodeSecretKey → ParseSecring.
			pass := []byte("secret passphrase")
			entry, err := EncodeSecretKey(rand.Reader, sk, pass)
			if err != nil {
				t.Fatal(err)
			}
			if lifetime == 0 && bytes.Contains(entry, []byte("Expires:")) {
				t.Error("entry without expiry has an Expires: line")
			}
			sks, errs := ParseSecring(entry, pass)
			if len(errs) != 0 || len(sks) != 1 {
				t.Fatalf("%d: ParseSecring: %d keys, %v", bits, len(sks), errs)
			}
			back := sks[0]
			if !back.Key.Equal(sk.Key) || back.KeyID != sk.KeyID || !back.Created.Equal(sk.Created) || !back.Expires.Equal(sk.Expires) {
				t.Errorf("%d: secret round trip differs", bits)
			}
			if _, errs := ParseSecring(entry, []byte("wrong")); len(errs) != 1 || !errors.Is(errs[0], ErrPassphrase) {
				t.Errorf("%d: wrong passphrase gave %v", bits, errs)
			}
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, bits := range []int{0, 512, 1023, 2047, 8192} {
		if _, err := Generate(bits, time.Now(), 0); !errors.Is(err, ErrKeySize) {
			t.Errorf("Generate(%d): %v", bits, err)
		}
	}
	if _, err := Generate(1024, time.Now(), -time.Hour); err == nil {
		t.Error("negative lifetime accepted")
	}
}

func vectorSecret(t *testing.T, name string) *SecretKey {
	t.Helper()
	keys, errs := ParseSecring(readVector(t, "keys", name, "secring.mix"), readVector(t, "keys", name, "passphrase.txt"))
	if len(errs) != 0 || len(keys) != 1 {
		t.Fatalf("%s: %d keys, %v", name, len(keys), errs)
	}
	return keys[0]
}

func TestEncodeSecretKeyErrors(t *testing.T) {
	alpha := vectorSecret(t, "alpha")
	if _, err := EncodeSecretKey(rand.Reader, nil, nil); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := EncodeSecretKey(bytes.NewReader(make([]byte, 10)), alpha, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short random source: %v", err)
	}
	wrongID := *alpha
	wrongID.KeyID[0] ^= 1
	if _, err := EncodeSecretKey(rand.Reader, &wrongID, nil); !errors.Is(err, ErrKeyID) {
		t.Errorf("wrong key ID: %v", err)
	}
	// A zero KeyID means "compute it".
	noID := *alpha
	noID.KeyID = packet.KeyID{}
	entry, err := EncodeSecretKey(rand.Reader, &noID, nil)
	if err != nil || !strings.Contains(string(entry), "\n45e104448ad3630f8c708b360415423d\n0\n") {
		t.Errorf("zero key ID: %v", err)
	}
	// Prime too large for its field: must be an error, not a panic.
	bad := *alpha
	priv := *alpha.Key
	priv.Primes = []*big.Int{new(big.Int).Lsh(big.NewInt(1), 600), priv.Primes[1]}
	bad.Key = &priv
	if _, err := EncodeSecretKey(rand.Reader, &bad, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("oversized prime: %v", err)
	}
}

func TestSecring(t *testing.T) {
	alpha, echo, bravo := vectorSecret(t, "alpha"), vectorSecret(t, "echo"), vectorSecret(t, "bravo")
	day := func(s string) time.Time { d, _ := parseDate(s); return d }
	old := *echo
	old.Created, old.Expires = day("2026-01-01"), day("2026-06-01")
	future := *bravo
	future.Created, future.Expires = day("2026-12-01"), time.Time{}
	ring := NewSecring([]*SecretKey{alpha, &old, nil, &future})

	if len(ring.Keys()) != 3 {
		t.Fatalf("Keys() has %d entries", len(ring.Keys()))
	}
	var iface packet.SecretKeys = ring
	if iface.SecretKey(alpha.KeyID) != alpha.Key || iface.SecretKey(echo.KeyID) != echo.Key {
		t.Error("SecretKey did not find a key")
	}
	if ring.SecretKey(packet.KeyID{1}) != nil {
		t.Error("SecretKey found an absent ID")
	}
	if (*Secring)(nil).SecretKey(alpha.KeyID) != nil {
		t.Error("nil Secring returned a key")
	}

	grace := 7 * 24 * time.Hour
	cases := []struct {
		now  string
		want []*SecretKey
	}{
		{"2026-05-31T00:00:00Z", []*SecretKey{&old}}, // alpha created 2026-11-24
		{"2026-06-08T00:00:00Z", []*SecretKey{&old}}, // last moment of the grace period
		{"2026-06-08T00:00:01Z", nil},
		{"2026-11-24T00:00:00Z", []*SecretKey{alpha}},
		{"2026-12-01T00:00:00Z", []*SecretKey{alpha, &future}},
		{"2046-11-26T00:00:00Z", []*SecretKey{alpha, &future}},
		{"2046-11-26T00:00:01Z", []*SecretKey{&future}},
	}
	for _, c := range cases {
		u := ring.Usable(at(t, c.now), grace)
		got := u.Keys()
		if len(got) != len(c.want) {
			t.Errorf("%s: %d usable keys, want %d", c.now, len(got), len(c.want))
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: key %d is %x, want %x", c.now, i, got[i].KeyID, c.want[i].KeyID)
			}
		}
		for _, k := range ring.Keys() {
			found := u.SecretKey(k.KeyID) != nil
			want := false
			for _, w := range c.want {
				want = want || w == k
			}
			if found != want {
				t.Errorf("%s: SecretKey(%x) found=%v", c.now, k.KeyID, found)
			}
		}
	}
}

// Several entries in one file, newest last, as a remailer that rotated
// keys writes them.
func TestParseSecringSeveral(t *testing.T) {
	var data []byte
	var want []packet.KeyID
	for _, name := range []string{"alpha", "echo"} {
		data = append(data, readVector(t, "keys", name, "secring.mix")...)
		want = append(want, vectorSecret(t, name).KeyID)
	}
	// alpha's passphrase opens alpha only.
	keys, errs := ParseSecring(data, []byte("alphapass"))
	if len(keys) != 1 || keys[0].KeyID != want[0] || len(errs) != 1 || !errors.Is(errs[0], ErrPassphrase) ||
		!strings.Contains(errs[0].Error(), "entry 2 (line 33)") {
		t.Errorf("got %d keys, errors %v", len(keys), errs)
	}
}
