package packet

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// chainOf returns n hops cycling through names.
func (k testKeys) chainOf(n int, names ...string) []Hop {
	c := make([]Hop, n)
	for i := range c {
		c[i] = k.hop(names[i%len(names)])
	}
	return c
}

func randomPayload(t testing.TB) []byte {
	p := make([]byte, PayloadSize)
	if _, err := rand.Read(p); err != nil {
		t.Fatal(err)
	}
	// A valid length field: the exit checks it (§8.1).
	binary.LittleEndian.PutUint32(p, uint32(binary.LittleEndian.Uint16(p[4:]))%(MaxChunkData+1))
	return p
}

// walk processes pkt through chain hop by hop and returns the final result.
func walk(t *testing.T, keys SecretKeys, chain []Hop, pkt []byte) *Result {
	t.Helper()
	today := testNow.Unix() / 86400
	for i, h := range chain {
		if !bytes.Equal(pkt[:16], h.KeyID[:]) {
			t.Fatalf("hop %d: packet for key %x, want %x", i+1, pkt[:16], h.KeyID)
		}
		r, err := Process(keys, pkt, rand.Reader)
		if err != nil {
			t.Fatalf("hop %d (%s): %v", i+1, h.Address, err)
		}
		if d := today - int64(r.Days); d < 0 || d > 3 {
			t.Errorf("hop %d: timestamp %d days off", i+1, d)
		}
		if i == len(chain)-1 {
			return r
		}
		if r.Type != TypeIntermediate || r.NextHop != chain[i+1].Address {
			t.Fatalf("hop %d: type %d next %q, want intermediate to %s", i+1, r.Type, r.NextHop, chain[i+1].Address)
		}
		pkt = r.Packet
	}
	return nil
}

func TestRoundTripChains(t *testing.T) {
	keys := loadTestKeys(t)
	ring := keys.ring()
	sets := []struct {
		name  string
		hops  []string
		limit int
	}{
		{"1024", []string{"alpha", "echo"}, 20},
		{"2048", []string{"bravo"}, 10},
		{"3072", []string{"charlie"}, 10},
		{"4096", []string{"delta"}, 10},
		{"mixed", []string{"alpha", "delta", "echo", "bravo", "charlie"}, 13},
	}
	for _, set := range sets {
		for _, n := range []int{1, 2, 5, 10, 20} {
			if n > set.limit {
				continue
			}
			chain := keys.chainOf(n, set.hops...)
			if SlotsNeeded(chain) > MaxSlots {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", set.name, n), func(t *testing.T) {
				payload := randomPayload(t)
				var fin Final
				rand.Read(fin.PacketID[:])
				rand.Read(fin.MessageID[:])
				fin.Chunk, fin.Chunks = 2, 3
				if n%2 == 1 {
					fin.Chunk, fin.Chunks = 1, 1
				}
				pkt, err := Build(rand.Reader, testNow, chain, fin, payload)
				if err != nil {
					t.Fatal(err)
				}
				r := walk(t, ring, chain, pkt)
				want := TypeFinal
				if fin.Chunks > 1 {
					want = TypeChunk
				}
				if r.Type != want || r.Chunk != fin.Chunk || r.Chunks != fin.Chunks {
					t.Errorf("final type %d chunk %d/%d, want %d %d/%d", r.Type, r.Chunk, r.Chunks, want, fin.Chunk, fin.Chunks)
				}
				if r.PacketID != fin.PacketID || r.MessageID != fin.MessageID {
					t.Error("exit packet ID or message ID changed")
				}
				if !bytes.Equal(r.Payload, payload) {
					t.Error("payload changed on the way")
				}
			})
		}
	}
}

func TestChainLimits(t *testing.T) {
	keys := loadTestKeys(t)
	payload := randomPayload(t)
	fin := Final{Chunk: 1, Chunks: 1}
	for _, c := range []struct {
		chain []Hop
		ok    bool
	}{
		{keys.chainOf(20, "alpha", "echo"), true},
		{keys.chainOf(21, "alpha", "echo"), false},
		{keys.chainOf(10, "delta"), true},
		{keys.chainOf(11, "bravo"), false},
		{append(keys.chainOf(9, "charlie"), keys.chainOf(2, "alpha")...), true},
		{append(keys.chainOf(9, "charlie"), keys.chainOf(3, "alpha")...), false},
		{nil, false},
	} {
		_, err := Build(rand.Reader, testNow, c.chain, fin, payload)
		if (err == nil) != c.ok {
			t.Errorf("%d hops, %d slots: err %v, want ok=%v", len(c.chain), SlotsNeeded(c.chain), err, c.ok)
		}
	}
	long := keys.chainOf(2, "alpha")
	long[1].Address = string(bytes.Repeat([]byte("a"), 81))
	if _, err := Build(rand.Reader, testNow, long, fin, payload); !errors.Is(err, ErrAddressTooLong) {
		t.Errorf("81-byte address: %v", err)
	}
	if _, err := Build(rand.Reader, testNow, long[:1], Final{Chunk: 3, Chunks: 2}, payload); !errors.Is(err, ErrBadChunk) {
		t.Errorf("chunk 3 of 2: %v", err)
	}
}

// craft builds a single-hop packet for priv's 1024-bit key and lets edit
// change the 328-byte plaintext before it is re-encrypted. fixDigest
// recomputes the MD5 over the first n bytes afterwards.
func craft(t testing.TB, keys testKeys, name string, edit func(p []byte), fixDigest int) []byte {
	t.Helper()
	var kh []byte
	capture := func(pub *rsa.PublicKey, msg []byte) ([]byte, error) {
		kh = bytes.Clone(msg)
		return rsaEncrypt(pub, msg)
	}
	fin := Final{Chunk: 1, Chunks: 1}
	pkt, err := build(rand.Reader, testNow, []Hop{keys.hop(name)}, fin, randomPayload(t), capture)
	if err != nil {
		t.Fatal(err)
	}
	e := pkt[153:481]
	cbcDecrypt(newTripleDES(kh), pkt[145:153], e, e)
	edit(e)
	if fixDigest > 0 {
		sum := md5.Sum(e[:fixDigest])
		copy(e[fixDigest:], sum[:])
	}
	cbcEncrypt(newTripleDES(kh), pkt[145:153], e, e)
	return pkt
}

func TestProcessErrors(t *testing.T) {
	keys := loadTestKeys(t)
	ring := keys.ring()
	good := craft(t, keys, "alpha", func([]byte) {}, 0)
	if _, err := Process(ring, good, rand.Reader); err != nil {
		t.Fatalf("untouched crafted packet: %v", err)
	}
	big, err := Build(rand.Reader, testNow, []Hop{keys.hop("delta")}, Final{Chunk: 1, Chunks: 1}, randomPayload(t))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(pkt []byte, i int) []byte {
		c := bytes.Clone(pkt)
		c[i] ^= 1
		return c
	}
	cases := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"short", good[:PacketSize-1], ErrLength},
		{"long", append(bytes.Clone(good), 0), ErrLength},
		{"unknown key", flip(good, 0), ErrUnknownKey},
		{"length byte", flip(good, 16), ErrRSALength},
		{"large length byte for small key", func() []byte { c := bytes.Clone(good); c[16] = 2; return c }(), ErrRSALength},
		{"rsa ciphertext", flip(good, 40), ErrRSADecrypt},
		{"digest", flip(good, 153), ErrDigest},
		{"unknown type", craft(t, keys, "alpha", func(p []byte) { p[40] = 3 }, 72), ErrUnknownType},
		{"no marker", craft(t, keys, "alpha", func(p []byte) { p[65] = 'X' }, 72), ErrNoTimestamp},
		{"digest field", craft(t, keys, "alpha", func(p []byte) { p[80] ^= 1 }, 0), ErrDigest},
		{"chunk zero", craft(t, keys, "alpha", func(p []byte) {
			// Shift a type 1 header into a type 2 one with chunk 0 of 2.
			copy(p[43:], bytes.Clone(p[41:72]))
			p[40], p[41], p[42] = TypeChunk, 0, 2
		}, 74), ErrBadChunk},
		{"no next hop", craft(t, keys, "alpha", func(p []byte) {
			p[40] = TypeIntermediate
			clear(p[41:273])
			copy(p[273:278], timestampMarker[:])
		}, 280), ErrNoAddress},
		{"large: payload tag", flip(big, 15000), ErrAntiTagBody},
		{"large: header tag", flip(big, 600), ErrAntiTagHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Process(ring, c.pkt, rand.Reader)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v (result %+v), want %v", err, r, c.want)
			}
		})
	}
}

// FuzzProcessHeader feeds arbitrary 328-byte header plaintexts through the
// full hop processing (past RSA), where a remote attacker controls them.
func FuzzProcessHeader(f *testing.F) {
	keys := loadTestKeys(f)
	ring := keys.ring("alpha")
	kh := make([]byte, 24)
	pub := &keys["alpha"].PublicKey
	ct, err := rsaEncrypt(pub, kh)
	if err != nil {
		f.Fatal(err)
	}
	base := make([]byte, PacketSize)
	id := testKeyID(pub)
	copy(base, id[:])
	base[16] = 0x80
	copy(base[17:], ct)
	f.Add(make([]byte, encPartSize))
	f.Add(append([]byte{1, 2, 3}, bytes.Repeat([]byte{0}, 62)...))
	inter := make([]byte, encPartSize)
	copy(inter[193:], "next@remailer.test")
	copy(inter[273:], timestampMarker[:])
	sum := md5.Sum(inter[:280])
	copy(inter[280:], sum[:])
	f.Add(inter)
	f.Fuzz(func(t *testing.T, p []byte) {
		pkt := bytes.Clone(base)
		e := pkt[153:481]
		copy(e, p)
		cbcEncrypt(newTripleDES(kh), pkt[145:153], e, e)
		r, err := Process(ring, pkt, rand.Reader)
		if err == nil && r.Type == TypeIntermediate && len(r.Packet) != PacketSize {
			t.Fatalf("next packet of %d bytes", len(r.Packet))
		}
	})
}

// FuzzProcess feeds whole packets (mostly rejected early) to both formats.
func FuzzProcess(f *testing.F) {
	keys := loadTestKeys(f)
	ring := keys.ring("alpha", "delta")
	for _, name := range []string{"alpha", "delta"} {
		pkt, err := Build(rand.Reader, testNow, []Hop{keys.hop(name)}, Final{Chunk: 1, Chunks: 1}, make([]byte, PayloadSize))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pkt)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		Process(ring, pkt, rand.Reader)
	})
}
