package keyring

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// ringKeys returns the vector public keys by remailer name.
func ringKeys(t *testing.T) map[string]*PublicKey {
	t.Helper()
	keys, errs := ParsePubring(readVector(t, "pubring.mix"))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	m := make(map[string]*PublicKey)
	for _, k := range keys {
		m[k.Name] = k
	}
	return m
}

// as returns a copy of k listed under another name and address with
// other dates.
func as(k *PublicKey, name, address, created, expires string) *PublicKey {
	c := *k
	c.Name, c.Address = name, address
	c.Created, c.Expires = time.Time{}, time.Time{}
	if created != "" {
		c.Created, _ = parseDate(created)
	}
	if expires != "" {
		c.Expires, _ = parseDate(expires)
	}
	return &c
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLookupVectors(t *testing.T) {
	ring := NewPubring(func() []*PublicKey { k, _ := ParsePubring(readVector(t, "pubring.mix")); return k }())
	now := at(t, "2026-11-25T12:00:00Z")
	for _, q := range []string{"charlie", "CHARLIE", "Charlie@Remailer.Test", " charlie "} {
		k, err := ring.Lookup(q, now)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if k.Name != "charlie" || k.Bits() != 3072 {
			t.Errorf("%q: got %s (%d bits)", q, k.Name, k.Bits())
		}
	}
	_, err := ring.Lookup("foxtrot", now)
	if !errors.Is(err, ErrUnknownRemailer) || !strings.Contains(err.Error(), `"foxtrot"`) {
		t.Errorf("unknown remailer: %v", err)
	}
	// Before the keys were created, and after they expired.
	for _, when := range []string{"2026-11-23T23:59:59Z", "2046-11-19T00:00:01Z"} {
		_, err := ring.Lookup("alpha", at(t, when))
		if !errors.Is(err, ErrNoValidKey) || !strings.Contains(err.Error(), `"alpha"`) {
			t.Errorf("%s: %v", when, err)
		}
		if u := ring.Usable(at(t, when)); len(u) != 0 {
			t.Errorf("%s: %d usable keys", when, len(u))
		}
	}
	if u := ring.Usable(now); len(u) != 5 {
		t.Errorf("%d usable keys, want 5", len(u))
	}
	if len(ring.Keys()) != 5 {
		t.Errorf("Keys() has %d entries", len(ring.Keys()))
	}
}

func TestLookupDuplicates(t *testing.T) {
	v := ringKeys(t)
	small1 := as(v["alpha"], "dup", "dup@x.test", "2026-01-01", "2027-06-01")
	small2 := as(v["echo"], "DUP", "Dup@X.test", "2026-01-01", "2027-03-01")
	big := as(v["bravo"], "dup", "dup@x.test", "2026-01-01", "2027-02-01")
	future := as(v["delta"], "dup", "dup@x.test", "2027-01-01", "2030-01-01")
	forever := as(v["alpha"], "dup", "dup@x.test", "2026-01-01", "")

	cases := []struct {
		name string
		keys []*PublicKey
		now  string
		want *PublicKey
	}{
		{"larger key wins", []*PublicKey{small1, big, small2}, "2026-12-01T00:00:00Z", big},
		{"larger key wins in any order", []*PublicKey{big, small1}, "2026-12-01T00:00:00Z", big},
		{"future key skipped", []*PublicKey{small1, future}, "2026-12-01T00:00:00Z", small1},
		{"future key used once created", []*PublicKey{small1, future}, "2027-01-01T00:00:00Z", future},
		{"equal size: sooner expiry wins", []*PublicKey{small1, small2}, "2026-12-01T00:00:00Z", small2},
		{"equal size: sooner expiry wins in any order", []*PublicKey{small2, small1}, "2026-12-01T00:00:00Z", small2},
		{"expired larger key skipped", []*PublicKey{big, small1}, "2027-02-02T00:00:00Z", small1},
		{"expired sooner key skipped", []*PublicKey{small1, small2}, "2027-03-02T00:00:00Z", small1},
		{"key valid on its expiry day at 00:00", []*PublicKey{small1, small2}, "2027-03-01T00:00:00Z", small2},
		{"expiring key beats no expiry", []*PublicKey{forever, small1}, "2026-12-01T00:00:00Z", small1},
		{"no expiry used after the other expired", []*PublicKey{forever, small1}, "2030-12-01T00:00:00Z", forever},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ring := NewPubring(c.keys)
			now := at(t, c.now)
			for _, q := range []string{"dup", "DuP@x.TEST"} {
				got, err := ring.Lookup(q, now)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("Lookup(%q) = %s/%d bits/%v, want %d bits/%v", q, got.Name, got.Bits(), got.Expires, c.want.Bits(), c.want.Expires)
				}
			}
			u := ring.Usable(now)
			if len(u) != 1 || u[0] != c.want {
				t.Errorf("Usable = %v", u)
			}
		})
	}
}

func TestUsableOnePerRemailer(t *testing.T) {
	v := ringKeys(t)
	keys := []*PublicKey{
		v["alpha"],
		as(v["echo"], "alpha", "alpha@remailer.test", "2026-11-24", "2026-12-24"), // same size, sooner expiry
		v["bravo"],
		as(v["alpha"], "bravo", "bravo@remailer.test", "2026-11-24", "2026-12-01"), // smaller
		as(v["charlie"], "other", "other@x.test", "2026-11-24", "2026-11-25"),      // expired at now
		v["delta"],
		as(v["echo"], "bravo", "bravo@elsewhere.test", "2026-11-24", ""), // other address: other remailer
	}
	u := NewPubring(keys).Usable(at(t, "2026-11-26T00:00:00Z"))
	var got []string
	for _, k := range u {
		got = append(got, k.Address+"/"+k.Expires.Format(time.DateOnly))
	}
	want := "alpha@remailer.test/2026-12-24 bravo@remailer.test/2046-11-19 delta@remailer.test/2046-11-19 bravo@elsewhere.test/0001-01-01"
	if strings.Join(got, " ") != want {
		t.Errorf("Usable:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestValidAt(t *testing.T) {
	k := &PublicKey{}
	k.Created, _ = parseDate("2026-11-24")
	k.Expires, _ = parseDate("2027-11-24")
	for s, want := range map[string]bool{
		"2026-11-23T23:59:59Z": false,
		"2026-11-24T00:00:00Z": true,
		"2027-11-24T00:00:00Z": true,
		"2027-11-24T00:00:01Z": false,
	} {
		if got := k.ValidAt(at(t, s)); got != want {
			t.Errorf("ValidAt(%s) = %v", s, got)
		}
	}
	if !(&PublicKey{}).ValidAt(time.Now()) {
		t.Error("a key without dates is always valid")
	}
}

func TestType2LineDates(t *testing.T) {
	v := ringKeys(t)
	k := as(v["alpha"], "alpha", "alpha@remailer.test", "", "2030-01-01")
	if got := k.Type2Line(); got != "alpha alpha@remailer.test 45e104448ad3630f8c708b360415423d 2:3.0.2d CNm" {
		t.Errorf("Type2Line without created = %q", got)
	}
	// A time of day or zone other than UTC still writes the UTC date.
	k.Created = time.Date(2026, 11, 24, 23, 30, 0, 0, time.FixedZone("x", -2*3600))
	if got := k.Type2Line(); !strings.HasSuffix(got, " CNm 2026-11-25 2030-01-01") {
		t.Errorf("Type2Line = %q", got)
	}
	if (&PublicKey{}).KeyTxt() != nil {
		t.Error("KeyTxt without a key is not nil")
	}
}
