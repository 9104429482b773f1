package packet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// Benchmarks for docs/PERFORMANCE.md (make bench). Each key size is measured
// on an intermediate hop, the costlier case (19 slots to re-encrypt).

var benchSizes = []struct{ name, key, next string }{
	{"1024", "alpha", "echo"},
	{"2048", "bravo", "alpha"},
	{"3072", "charlie", "alpha"},
	{"4096", "delta", "alpha"},
}

func benchPacket(b *testing.B, keys testKeys, key, next string) []byte {
	pkt, err := Build(rand.Reader, testNow, []Hop{keys.hop(key), keys.hop(next)}, Final{Chunk: 1, Chunks: 1}, randomPayload(b))
	if err != nil {
		b.Fatal(err)
	}
	return pkt
}

// BenchmarkHop is Process on one intermediate hop, one core.
func BenchmarkHop(b *testing.B) {
	keys := loadTestKeys(b)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			ring := keys.ring(s.key)
			pkt := benchPacket(b, keys, s.key, s.next)
			b.ReportAllocs()
			b.SetBytes(PacketSize)
			for b.Loop() {
				if _, err := Process(ring, pkt, rand.Reader); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHopParallel is Process on every core (-cpu 1,2 gives both).
func BenchmarkHopParallel(b *testing.B) {
	keys := loadTestKeys(b)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			ring := keys.ring(s.key)
			pkt := benchPacket(b, keys, s.key, s.next)
			b.SetBytes(PacketSize)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := Process(ring, pkt, rand.Reader); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkFloor does only the crypto a hop cannot avoid, with the standard
// library used plainly: one RSA private operation, 3DES-CBC over the bytes a
// hop must decrypt (328-byte part, 19 slots, payload), the MD5 digest, and
// for large keys the three HMACs and AES-CFB over the same bytes.
func BenchmarkFloor(b *testing.B) {
	keys := loadTestKeys(b)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			priv := keys[s.key]
			pkt := benchPacket(b, keys, s.key, s.next)
			k := priv.Size()
			ct := pkt[17 : 17+k]
			buf := make([]byte, encPartSize+followLength+PayloadSize)
			key := make([]byte, 24)
			iv := make([]byte, 8)
			ivAES := make([]byte, 16)
			hk := make([]byte, 64)
			b.ReportAllocs()
			b.SetBytes(PacketSize)
			for b.Loop() {
				if _, err := rsa.DecryptPKCS1v15(nil, priv, ct); err != nil {
					b.Fatal(err)
				}
				if k > 128 {
					m := hmac.New(sha256.New, hk)
					m.Write(pkt[HeaderAreaSize:])
					m.Sum(nil)
					m.Reset()
					m.Write(pkt[25+k : 353+k])
					m.Sum(nil)
					m.Reset()
					m.Write(pkt[1024:2048])
					m.Sum(nil)
					a, _ := aes.NewCipher(hk[:32])
					cipher.NewCFBDecrypter(a, ivAES).XORKeyStream(buf, buf) //nolint:staticcheck // the format's cipher
				}
				c, _ := des.NewTripleDESCipher(key)
				cipher.NewCBCDecrypter(c, iv).CryptBlocks(buf[:encPartSize], buf[:encPartSize])
				md5.Sum(buf[:280])
				c, _ = des.NewTripleDESCipher(key)
				cipher.NewCBCDecrypter(c, iv).CryptBlocks(buf[encPartSize:], buf[encPartSize:])
			}
		})
	}
}

// BenchmarkBuild5Hops encodes one packet for a five-hop chain of 1024-bit
// keys (the common case) and for a mixed chain.
func BenchmarkBuild5Hops(b *testing.B) {
	keys := loadTestKeys(b)
	for _, c := range []struct {
		name  string
		hops  []string
		count int
	}{{"1024", []string{"alpha", "echo"}, 5}, {"mixed", []string{"alpha", "bravo", "charlie", "delta", "echo"}, 5}} {
		b.Run(c.name, func(b *testing.B) {
			chain := keys.chainOf(c.count, c.hops...)
			payload := randomPayload(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(rand.Reader, testNow, chain, Final{Chunk: 1, Chunks: 1}, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
