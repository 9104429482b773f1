package packet

// Tests against the golden vectors made by the real Mixmaster 3.0.2d
// (testdata/mixmaster, see its README). Internal test package: the
// rebuild test replaces the RSA encryption to replay recorded ciphertexts.

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const vectorDir = "../testdata/mixmaster"

var remailerNames = []string{"alpha", "bravo", "charlie", "delta", "echo"}

// testKeys maps remailer names to their secret keys, loaded from the PEM
// copies (the secring.mix format is tested in package keyring).
type testKeys map[string]*rsa.PrivateKey

func loadTestKeys(t testing.TB) testKeys {
	t.Helper()
	keys := testKeys{}
	for _, name := range remailerNames {
		data, err := os.ReadFile(filepath.Join(vectorDir, "keys", name, "private-pkcs1.pem"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(data)
		if blk == nil {
			t.Fatalf("%s: no PEM block", name)
		}
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		keys[name] = k
	}
	return keys
}

// testKeyID computes the §14.2 key ID (keyring.KeyIDOf does the same).
func testKeyID(pub *rsa.PublicKey) KeyID {
	n := pub.Size()
	buf := make([]byte, 2*n)
	pub.N.FillBytes(buf[:n])
	e := pub.E
	for i := 2*n - 1; e > 0; i-- {
		buf[i] = byte(e)
		e >>= 8
	}
	return md5.Sum(buf)
}

// ring is a SecretKeys over some of the test keys.
type ring map[KeyID]*rsa.PrivateKey

func (r ring) SecretKey(id KeyID) *rsa.PrivateKey { return r[id] }

func (k testKeys) ring(names ...string) ring {
	r := ring{}
	if len(names) == 0 {
		names = remailerNames
	}
	for _, n := range names {
		r[testKeyID(&k[n].PublicKey)] = k[n]
	}
	return r
}

func (k testKeys) hop(name string) Hop {
	pub := &k[name].PublicKey
	return Hop{Address: name + "@remailer.test", KeyID: testKeyID(pub), Key: pub}
}

// traceSection is one "== ..." section of a trace file.
type traceSection struct {
	title  string
	file   string
	values map[string]string
}

func (s *traceSection) bytes(t testing.TB, key string) []byte {
	t.Helper()
	v, ok := s.values[key]
	if !ok {
		t.Fatalf("%s [%s]: no %s", s.file, s.title, key)
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		t.Fatalf("%s: %s: %v", s.file, key, err)
	}
	return b
}

func readTrace(t testing.TB, path string) []*traceSection {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Lines before the first "== " title (the client's message-wide values)
	// form an untitled first section.
	out := []*traceSection{{file: path, values: map[string]string{}}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "== ") {
			out = append(out, &traceSection{title: line[3:], file: path, values: map[string]string{}})
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		if k == "" {
			continue
		}
		out[len(out)-1].values[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func vectorDirs(t testing.TB) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(vectorDir, "vectors", "*"))
	if err != nil || len(dirs) < 40 {
		t.Fatalf("vectors missing: %v (%d)", err, len(dirs))
	}
	return dirs
}

// verdictError maps a trace's result line to the error Process must give.
// A digest mismatch is an error for us even where 3.0.2d delivered (§18.1).
func verdictError(s *traceSection) error {
	if s.values["hdr.digest_ok"] == "no" {
		return ErrDigest
	}
	res := s.values["result"]
	switch {
	case strings.HasPrefix(res, "REJECT antitag-body"):
		return ErrAntiTagBody
	case strings.HasPrefix(res, "REJECT antitag-328"):
		return ErrAntiTagHeader
	case strings.HasPrefix(res, "REJECT antitag-next-header"):
		return ErrAntiTagNext
	case strings.HasPrefix(res, "REJECT no-timestamp"):
		return ErrNoTimestamp
	case strings.HasPrefix(res, "REJECT unknown-keyid"):
		return ErrUnknownKey
	}
	return nil
}

// traceRemailer names the remailer whose trace a file is.
func traceRemailer(path string) string {
	base := filepath.Base(path)
	for _, n := range remailerNames {
		if strings.Contains(base, n) {
			return n
		}
	}
	return ""
}

// TestProcessVectors processes every packet the vectors carry with the key
// of the remailer that processed it and compares with that remailer's trace:
// header fields, decrypted payloads, next-hop packets (outside the random
// slot) and the verdict for tampered packets.
func TestProcessVectors(t *testing.T) {
	keys := loadTestKeys(t)
	// Every packet in the vectors: decoded .packet.bin files and the
	// packets of the input e-mails of the sequence vectors.
	packets := map[string]*[][]byte{} // by vector directory, consumed by findPacket
	var all [][]byte
	for _, dir := range vectorDirs(t) {
		packets[dir] = new([][]byte)
		bins, _ := filepath.Glob(filepath.Join(dir, "*.packet.bin"))
		for _, b := range bins {
			data, err := os.ReadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			*packets[dir] = append(*packets[dir], data)
			all = append(all, data)
		}
		// Packet e-mails without a decoded .packet.bin beside them.
		emls, _ := filepath.Glob(filepath.Join(dir, "input*.eml"))
		if bins, _ := filepath.Glob(filepath.Join(dir, "00-client-to-*.packet.bin")); len(bins) == 0 {
			more, _ := filepath.Glob(filepath.Join(dir, "00-client-to-*.eml"))
			emls = append(emls, more...)
		}
		for _, e := range emls {
			data, err := os.ReadFile(e)
			if err != nil {
				t.Fatal(err)
			}
			pkts, err := Dearmor(data)
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			*packets[dir] = append(*packets[dir], pkts...)
			all = append(all, pkts...)
		}
	}
	// Each remailer trace section is matched to the packet it saw by the
	// RSA ciphertext: among the packets of its own vector first (tampered
	// copies share the ciphertext of their original), else among all.
	sections := 0
	for _, dir := range vectorDirs(t) {
		traces, _ := filepath.Glob(filepath.Join(dir, "*.trace.txt"))
		for _, tr := range traces {
			if strings.HasSuffix(tr, "client.trace.txt") {
				continue
			}
			name := traceRemailer(tr)
			// Each trace file is one run over the vector's inputs.
			inputs := slices.Clone(*packets[dir])
			for i, s := range readTrace(t, tr) {
				c, ok := s.values["hdr.rsa_ciphertext"]
				if !ok {
					continue
				}
				sections++
				pkt := findPacket(&inputs, all, c)
				if pkt == nil {
					t.Errorf("%s section %d: no packet with its RSA ciphertext", tr, i)
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%d", filepath.Base(dir), filepath.Base(tr), i), func(t *testing.T) {
					checkAgainstTrace(t, keys.ring(name), pkt, s)
				})
			}
		}
	}
	// §19: 71 accepted packets and the tampered or crafted ones.
	if sections < 80 {
		t.Errorf("only %d trace sections checked", sections)
	}
}

// findPacket returns a packet whose RSA ciphertext is hexCipher, from dir's
// own packets if it has one. With several candidates in dir (a tampered
// vector's inputs) the first that is not the untampered original is wanted;
// the caller's trace order equals the input order, so take them in turn.
func findPacket(own *[][]byte, all [][]byte, hexCipher string) []byte {
	match := func(pkt []byte) bool {
		k := 128
		if pkt[16] != 0x80 {
			k = 128 * int(pkt[16])
		}
		return 17+k <= len(pkt) && hex.EncodeToString(pkt[17:17+k]) == hexCipher
	}
	for i, p := range *own {
		if match(p) {
			// Consume it so that the next section with the same
			// ciphertext gets the next input.
			*own = append((*own)[:i:i], (*own)[i+1:]...)
			return p
		}
	}
	for _, p := range all {
		if match(p) {
			return p
		}
	}
	return nil
}

func checkAgainstTrace(t *testing.T, keys SecretKeys, pkt []byte, s *traceSection) {
	orig := bytes.Clone(pkt)
	r, err := Process(keys, pkt, bytes.NewReader(make([]byte, SlotSize)))
	if !bytes.Equal(orig, pkt) {
		t.Fatal("Process modified its input")
	}
	if want := verdictError(s); want != nil || err != nil {
		if !errors.Is(err, want) {
			t.Fatalf("verdict %q: got error %v, want %v", s.values["result"], err, want)
		}
		return
	}
	if got, want := hex.EncodeToString(r.PacketID[:]), s.values["hdr.packet_id"]; got != want {
		t.Errorf("packet ID %s, want %s", got, want)
	}
	if got, want := strconv.Itoa(r.Type), s.values["hdr.packet_type"]; got != want {
		t.Errorf("type %s, want %s", got, want)
	}
	if got, want := strconv.Itoa(int(r.Days)), s.values["hdr.timestamp_days"]; got != want {
		t.Errorf("days %s, want %s", got, want)
	}
	switch r.Type {
	case TypeIntermediate:
		if want := "INTERMEDIATE next=" + r.NextHop; s.values["result"] != want {
			t.Errorf("result %q, want %q", want, s.values["result"])
		}
		next := s.bytes(t, "out.next_packet")
		if !bytes.Equal(r.Packet[:followLength], next[:followLength]) || !bytes.Equal(r.Packet[HeaderAreaSize:], next[HeaderAreaSize:]) {
			t.Error("next-hop packet differs outside the random slot")
		}
	default:
		if got, want := hex.EncodeToString(r.MessageID[:]), s.values["hdr.message_id"]; got != want {
			t.Errorf("message ID %s, want %s", got, want)
		}
		if r.Type == TypeChunk {
			if got, want := fmt.Sprintf("%d of %d", r.Chunk, r.Chunks), s.values["hdr.chunk"]; got != want {
				t.Errorf("chunk %q, want %q", got, want)
			}
		}
		// Replays and stale or future packets are the daemon's verdicts;
		// their traces stop before the payload.
		res := s.values["result"]
		if strings.HasPrefix(res, "FINAL") || strings.HasPrefix(res, "PARTIAL") {
			if !bytes.Equal(r.Payload, s.bytes(t, "body.plain")) {
				t.Error("decrypted payload differs")
			}
		}
	}
}

// TestUnknownKeyVector: n-wrong-key-bravo feeds alpha's packet to bravo.
func TestUnknownKeyVector(t *testing.T) {
	keys := loadTestKeys(t)
	pkt, err := os.ReadFile(filepath.Join(vectorDir, "vectors/a-single-hop-alpha-1024/00-client-to-alpha.packet.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tr := readTrace(t, filepath.Join(vectorDir, "vectors/n-wrong-key-bravo/bravo.trace.txt"))
	last := tr[len(tr)-1]
	if !strings.HasPrefix(last.values["result"], "REJECT") {
		t.Fatalf("unexpected trace result %q", last.values["result"])
	}
	if hex.EncodeToString(pkt[:16]) != last.values["hdr.keyid"] {
		t.Fatal("trace is not about this packet")
	}
	if _, err := Process(keys.ring("bravo"), pkt, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("got %v, want ErrUnknownKey", err)
	}
}

// scriptedReader serves recorded random values in order and fails when the
// builder asks for a value of another size: it checks the draw order too.
type scriptedReader struct {
	t     testing.TB
	items [][]byte
	names []string
}

func (s *scriptedReader) add(name string, b []byte) {
	s.items = append(s.items, b)
	s.names = append(s.names, name)
}

func (s *scriptedReader) Read(p []byte) (int, error) {
	if len(s.items) == 0 {
		return 0, fmt.Errorf("scripted reader exhausted (asked for %d bytes)", len(p))
	}
	if len(p) != len(s.items[0]) {
		return 0, fmt.Errorf("asked for %d bytes, next recorded value %s has %d", len(p), s.names[0], len(s.items[0]))
	}
	n := copy(p, s.items[0])
	s.items, s.names = s.items[1:], s.names[1:]
	return n, nil
}

var hopTitle = regexp.MustCompile(`^client: hop (\d+) .*remailer=(\S+) addr=(\S+) copy=(\d+) chunk=(\d+)/(\d+)`)

// TestRebuildClientPackets rebuilds every packet the real client made from
// the secrets in its trace and compares byte for byte.
func TestRebuildClientPackets(t *testing.T) {
	keys := loadTestKeys(t)
	rebuilt := 0
	for _, dir := range vectorDirs(t) {
		path := filepath.Join(dir, "00-client.trace.txt")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		secs := readTrace(t, path)
		var chunkPlain, messageID []byte
		var hops []*traceSection // current packet's hops, exit first
		for _, s := range secs {
			if v, ok := s.values["enc.message_id"]; ok {
				messageID, _ = hex.DecodeString(v)
			}
			if strings.HasPrefix(s.title, "client: chunk") {
				chunkPlain = s.bytes(t, "enc.chunk_plain_body")
				continue
			}
			if !hopTitle.MatchString(s.title) {
				continue
			}
			hops = append(hops, s)
			if _, ok := s.values["enc.final_packet_body"]; !ok {
				continue
			}
			want := append(s.bytes(t, "enc.final_packet_headers"), s.bytes(t, "enc.final_packet_body")...)
			name := fmt.Sprintf("%s/%d", filepath.Base(dir), rebuilt)
			got := rebuildPacket(t, keys, hops, chunkPlain, messageID)
			if !bytes.Equal(got, want) {
				t.Errorf("%s: rebuilt packet differs", name)
			}
			hops = nil
			rebuilt++
		}
	}
	if rebuilt < 31 {
		t.Errorf("rebuilt %d packets, want at least 31", rebuilt)
	}
}

func rebuildPacket(t *testing.T, keys testKeys, hops []*traceSection, payload, messageID []byte) []byte {
	t.Helper()
	n := len(hops)
	chain := make([]Hop, n)
	var fin Final
	today := 0
	for i, s := range hops {
		m := hopTitle.FindStringSubmatch(s.title)
		h := keys.hop(m[2])
		if h.Address != m[3] {
			t.Fatalf("address %s, want %s", h.Address, m[3])
		}
		chain[n-1-i] = h
		d, _ := strconv.Atoi(s.values["enc.timestamp_days"])
		today = max(today, d)
		if i == 0 {
			copy(fin.PacketID[:], s.bytes(t, "enc.packet_id"))
			fin.Chunk, _ = strconv.Atoi(m[5])
			fin.Chunks, _ = strconv.Atoi(m[6])
		}
	}
	copy(fin.MessageID[:], messageID)
	rd := &scriptedReader{t: t}
	ciphertexts := map[string][]byte{}
	for i, s := range hops { // in build order: the exit first
		exit := i == 0
		k := chain[n-1-i].Key.Size()
		plain := s.bytes(t, "enc.plain328")
		if !exit {
			rd.add("packet_id", s.bytes(t, "enc.packet_id"))
		}
		rd.add("body_deskey", s.bytes(t, "enc.body_deskey"))
		if exit {
			rd.add("body_iv", s.bytes(t, "enc.body_iv"))
			end := 72
			if fin.Chunks > 1 {
				end = 74
			}
			rd.add("plain328 padding", plain[end+16:])
			rd.add("other_3des", s.bytes(t, "enc.other_3des"))
		} else {
			rd.add("iv_array", s.bytes(t, "enc.iv_array"))
			rd.add("plain328 padding", plain[296:])
		}
		d, _ := strconv.Atoi(s.values["enc.timestamp_days"])
		rd.add("day offset", []byte{byte(today - d)})
		rd.add("hdr_deskey", s.bytes(t, "enc.hdr_deskey"))
		rd.add("hdr_iv", s.bytes(t, "enc.hdr_iv"))
		rsaPlain := s.bytes(t, "enc.rsa_plaintext")
		if k > 128 {
			rd.add("hmac_key+aes_pre", append(s.bytes(t, "enc.hmac_key"), s.bytes(t, "enc.aes_pre_key")...))
			if exit {
				rd.add("random mac_next", rsaPlain[88:120])
			}
		}
		blk := s.bytes(t, "enc.header_block")
		rd.add("header padding", blk[353+k:])
		ciphertexts[string(rsaPlain)] = blk[17 : 17+k]
	}
	enc := func(pub *rsa.PublicKey, msg []byte) ([]byte, error) {
		ct, ok := ciphertexts[string(msg)]
		if !ok {
			return nil, errors.New("RSA plaintext differs from the recorded one")
		}
		return ct, nil
	}
	pkt, err := build(rd, time.Unix(int64(today)*86400+3600, 0), chain, fin, payload, enc)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if len(rd.items) != 0 {
		t.Fatalf("%d recorded values unused, next %s", len(rd.items), rd.names[0])
	}
	return pkt
}
