package keyring

import (
	"bytes"
	"testing"
)

// The parsers read files from the network (pubring.mix, type2.list from
// pingers) and from disk; these targets check they never panic and that
// whatever they accept survives a write/read round trip.

func FuzzParsePubring(f *testing.F) {
	f.Add(readVector(f, "pubring.mix"))
	for _, name := range vectorNames {
		f.Add(readVector(f, "keys", name, "key.txt"))
	}
	f.Add([]byte(beginMarker + "\n" + endMarker + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, errs := ParsePubring(data)
		for _, err := range errs {
			if err == nil {
				t.Fatal("nil error reported")
			}
		}
		for _, k := range keys {
			if k.Key == nil || KeyIDOf(k.Key) != k.KeyID || !supportedBits(k.Bits()) {
				t.Fatalf("accepted bad key %+v", k)
			}
			txt := k.KeyTxt()
			back, errs := ParsePubring(txt)
			if len(errs) != 0 || len(back) != 1 || !back[0].Key.Equal(k.Key) {
				t.Fatalf("KeyTxt of an accepted key does not parse: %v\n%s", errs, txt)
			}
			// Type2Line drops Expires without Created; otherwise it must
			// give back the same attributes.
			if !k.Created.IsZero() && back[0].Type2Line() != k.Type2Line() {
				t.Fatalf("attribute line changed: %q → %q", k.Type2Line(), back[0].Type2Line())
			}
		}
	})
}

func FuzzParseType2List(f *testing.F) {
	f.Add(readVector(f, "type2.list"))
	f.Add([]byte("a a@b 45e104448ad3630f8c708b360415423d 2:3.0.2d 2026-11-24\n"))
	f.Add([]byte("a a@b 45E104448AD3630F8C708B360415423D 2.0.4 MC 0000-01-01 9999-12-31\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, _ := ParseType2List(data)
		for _, k := range keys {
			if k.Key != nil {
				t.Fatal("type2.list entry with a key")
			}
			line := k.Type2Line()
			back, errs := ParseType2List([]byte(line + "\n"))
			if len(errs) != 0 || len(back) != 1 {
				t.Fatalf("Type2Line %q does not parse: %v", line, errs)
			}
			if got := back[0].Type2Line(); got != line {
				t.Fatalf("Type2Line not stable: %q → %q", line, got)
			}
		}
	})
}

func FuzzParseSecring(f *testing.F) {
	for _, name := range vectorNames {
		f.Add(readVector(f, "keys", name, "secring.mix"), readVector(f, "keys", name, "passphrase.txt"))
	}
	f.Add(readVector(f, "keys", "alpha", "secring.mix"), []byte("wrong"))
	f.Add(append(readVector(f, "keys", "echo", "secring.mix"), readVector(f, "keys", "alpha", "secring.mix")...), []byte("echopass"))
	f.Fuzz(func(t *testing.T, data, passphrase []byte) {
		keys, _ := ParseSecring(data, passphrase)
		for _, k := range keys {
			if k.Key == nil || KeyIDOf(&k.Key.PublicKey) != k.KeyID || k.Key.Validate() != nil {
				t.Fatalf("accepted bad key %x", k.KeyID)
			}
			var rnd bytes.Reader
			rnd.Reset(make([]byte, 16))
			entry, err := EncodeSecretKey(&rnd, k, passphrase)
			if err != nil {
				t.Fatalf("cannot re-encode an accepted key: %v", err)
			}
			back, errs := ParseSecring(entry, passphrase)
			if len(errs) != 0 || len(back) != 1 || !back[0].Key.Equal(k.Key) {
				t.Fatalf("re-encoded key does not parse: %v", errs)
			}
		}
	})
}
