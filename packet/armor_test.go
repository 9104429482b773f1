package packet

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// armorVersion is the version string of the vectors' armour.
const armorVersion = "3.0.2d"

func vectorEmails(t testing.TB) []string {
	t.Helper()
	emls, err := filepath.Glob(filepath.Join(vectorDir, "vectors", "*", "*.eml"))
	if err != nil || len(emls) < 100 {
		t.Fatalf("vector e-mails missing: %v (%d)", err, len(emls))
	}
	return emls
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var fromToHeader = regexp.MustCompile(`^From: (.*)\nTo: (.*)\n\n`)

// TestDearmorVectors dearmors every vector e-mail: packet mails give the
// packet of their .packet.bin and re-armour to the identical file; all other
// mails (deliveries, replies, requests) are not packet mails.
func TestDearmorVectors(t *testing.T) {
	packetMails := 0
	for _, path := range vectorEmails(t) {
		name, _ := filepath.Rel(filepath.Join(vectorDir, "vectors"), path)
		mail := readFile(t, path)
		pkts, err := Dearmor(mail)
		if !bytes.Contains(mail, []byte("\n::\nRemailer-Type: Mixmaster")) {
			if !errors.Is(err, ErrNotPacket) {
				t.Errorf("%s: not a packet mail, got %d packets, error %v", name, len(pkts), err)
			}
			continue
		}
		packetMails++
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := 1
		if strings.HasPrefix(name, "g-two-packets-one-mail-alpha/") {
			want = 2
		}
		if len(pkts) != want {
			t.Errorf("%s: %d packets, want %d", name, len(pkts), want)
			continue
		}
		if bin := strings.TrimSuffix(path, ".eml") + ".packet.bin"; fileExists(bin) {
			if !bytes.Equal(pkts[0], readFile(t, bin)) {
				t.Errorf("%s: packet differs from %s", name, filepath.Base(bin))
			}
		}
		m := fromToHeader.FindSubmatch(mail)
		if m == nil {
			t.Errorf("%s: header is not just From and To", name)
			continue
		}
		env := Envelope{From: string(m[1]), To: string(m[2])}
		var got []byte
		for i, p := range pkts {
			if i == 0 {
				got = ArmorMail(env, armorVersion, p)
			} else {
				got = append(got, '\n')
				got = append(got, ArmorBody(armorVersion, p)...)
			}
		}
		if !bytes.Equal(got, mail) {
			t.Errorf("%s: re-armoured mail differs from the file", name)
		}
	}
	if packetMails != 85 {
		t.Errorf("%d packet mails found, want 85", packetMails)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestDearmorTwoPacketsOrder checks the packets of the two-packet mail
// against the remailer trace, which processed them in mail order.
func TestDearmorTwoPacketsOrder(t *testing.T) {
	dir := filepath.Join(vectorDir, "vectors", "g-two-packets-one-mail-alpha")
	pkts, err := Dearmor(readFile(t, filepath.Join(dir, "input.eml")))
	if err != nil || len(pkts) != 2 {
		t.Fatalf("got %d packets, error %v", len(pkts), err)
	}
	var secs []*traceSection
	for _, s := range readTrace(t, filepath.Join(dir, "alpha.trace.txt")) {
		if s.title == "remailer: mix2_decrypt" {
			secs = append(secs, s)
		}
	}
	if len(secs) != 2 {
		t.Fatalf("%d trace sections", len(secs))
	}
	for i, s := range secs {
		id, ct := s.bytes(t, "hdr.keyid"), s.bytes(t, "hdr.rsa_ciphertext")
		if !bytes.Equal(pkts[i][:16], id) || !bytes.Equal(pkts[i][17:17+len(ct)], ct) {
			t.Errorf("packet %d is not the one the trace processed %d-th", i+1, i+1)
		}
	}
}

func TestArmorBodyText(t *testing.T) {
	pkt := testPacket(PacketSize, 1)
	body := ArmorBody(armorVersion, pkt)
	if len(body) != 28122 { // §9.1
		t.Errorf("body is %d bytes, want 28122", len(body))
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != 690 || lines[0] != "::" || lines[1] != "Remailer-Type: Mixmaster 3.0.2d" ||
		lines[2] != "" || lines[3] != armorBegin || lines[4] != "20480" || lines[689] != armorEnd {
		t.Errorf("unexpected layout: %d lines, %q", len(lines), lines[:5])
	}
	if len(lines[5]) != 24 || len(lines[6]) != 40 || len(lines[687]) != 40 || len(lines[688]) != 28 {
		t.Errorf("line lengths %d %d %d %d", len(lines[5]), len(lines[6]), len(lines[687]), len(lines[688]))
	}

	mail := string(ArmorMail(Envelope{From: "a@x.test", To: "b@y.test\nBcc: evil@z.test", Precedence: "anon"}, "3.0.2d", pkt))
	wantHead := "From: a@x.test\nTo: b@y.test\nPrecedence: anon\n\n::\n"
	if !strings.HasPrefix(mail, wantHead) {
		t.Errorf("mail head %q, want %q", mail[:len(wantHead)], wantHead)
	}
}

// testPacket returns deterministic packet-like bytes.
func testPacket(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// vectorMail is a real packet mail and its packet.
func vectorMail(t testing.TB) (mail, pkt []byte) {
	t.Helper()
	dir := filepath.Join(vectorDir, "vectors", "a-single-hop-alpha-1024")
	return readFile(t, filepath.Join(dir, "00-client-to-alpha.eml")),
		readFile(t, filepath.Join(dir, "00-client-to-alpha.packet.bin"))
}

// TestDearmorAccepts covers the forms of §9.2 a receiver must accept.
func TestDearmorAccepts(t *testing.T) {
	mail, pkt := vectorMail(t)
	head, body, _ := strings.Cut(string(mail), "\n\n")
	armour := body[strings.Index(body, armorBegin):]

	// A data line starting with "F", for the "=46" tolerance.
	fLine := regexp.MustCompile(`(?m)^F[A-Za-z0-9+/]{39}$`).FindString(armour)
	if fLine == "" {
		t.Fatal("vector has no data line starting with F")
	}

	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write([]byte(body))
	w.Close()
	if !strings.Contains(qp.String(), "=3D") {
		t.Fatal("QP encoding changed nothing; the test would not test decoding")
	}
	// A soft line break inside a data line.
	qpSoft := strings.Replace(qp.String(), fLine, fLine[:20]+"=\n"+fLine[20:], 1)

	// The same packet encoded in two parts, each with its own padding.
	enc := base64.StdEncoding
	split := enc.EncodeToString(pkt[:20000]) + "\n" + enc.EncodeToString(pkt[20000:])
	if !strings.Contains(split, "=\n") {
		t.Fatal("first part has no padding")
	}
	sum := md5.Sum(pkt)

	cases := map[string]string{
		"vector":                  string(mail),
		"CRLF":                    strings.ReplaceAll(string(mail), "\n", "\r\n"),
		"quoted-printable":        head + "\nContent-Transfer-Encoding: quoted-printable\n\n" + qp.String(),
		"QP header in :: block":   head + "\n\n::\ncontent-transfer-encoding:  Quoted-Printable \n\n" + qp.String(),
		"QP soft line break":      head + "\nContent-Transfer-Encoding: quoted-printable\n\n" + qpSoft,
		"real header":             head + "\nRemailer-Type: Mixmaster 2.9beta23\n\n" + armour,
		"real header, odd case":   head + "\nrEMAILER-tYPE:mixMASTER\n\n" + armour,
		"folded real header":      head + "\nRemailer-Type:\n\tMixmaster 3.0.2d\n\n" + armour,
		"blank lines before ::":   head + "\n\n\n\r\n::\nRemailer-Type: Mixmaster 3.0\n\n" + armour,
		"second :: block":         head + "\n\n::\nX-Foo: bar\n\n\n::  \nRemailer-Type: Mixmaster 3.0\n\n" + armour,
		"=46 at line start":       strings.Replace(string(mail), "\n"+fLine+"\n", "\n=46"+fLine[1:]+"\n", 1),
		"no count line":           strings.Replace(string(mail), "\n20480\n", "\n", 1),
		"any count line":          strings.Replace(string(mail), "\n20480\n", "\n20479 or so\n", 1),
		"mid-stream padding":      head + "\n\n::\nRemailer-Type: Mixmaster 2.0.3\n\n" + armorBegin + "\n20480\n" + enc.EncodeToString(sum[:]) + "\n" + split + "\n" + armorEnd + "\n",
		"no final newline":        strings.TrimSuffix(string(mail), "\n"),
		"text around the armour":  strings.Replace(string(mail), armorBegin, "Some text.\n"+armorBegin, 1) + "\n-- \nsignature\n",
		"mbox From line and junk": "From someone Mon Jan  1 00:00:00 2026\n" + "no colon here\n" + string(mail),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			pkts, err := Dearmor([]byte(m))
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) != 1 || !bytes.Equal(pkts[0], pkt) {
				t.Fatalf("got %d packets, not the vector's", len(pkts))
			}
		})
	}
}

// TestDearmorRejects covers malformatted armours and mails that are not
// packet mails.
func TestDearmorRejects(t *testing.T) {
	mail, pkt := vectorMail(t)
	s := string(mail)
	head, body, _ := strings.Cut(s, "\n\n")
	lines := strings.Split(s, "\n")
	md5Line := lines[8]
	if len(md5Line) != 24 {
		t.Fatalf("line 9 is not the MD5 line: %q", md5Line)
	}
	other := md5.Sum([]byte("other"))
	short := ArmorMail(Envelope{From: "a", To: "b"}, armorVersion, pkt[:PacketSize-1])
	long := ArmorMail(Envelope{From: "a", To: "b"}, armorVersion, append(pkt[:PacketSize:PacketSize], 0))

	armour := []struct {
		name, mail, reason string
	}{
		{"wrong MD5", strings.Replace(s, md5Line, base64.StdEncoding.EncodeToString(other[:]), 1), "MD5"},
		{"packet bit flipped", strings.Replace(s, lines[100], flipChar(lines[100]), 1), "MD5"},
		{"truncated base64", strings.Join(append(lines[:400:400], lines[len(lines)-2:]...), "\n"), "decoded"},
		{"truncated at a group", strings.Join(append(lines[:400:400], lines[400][:16], armorEnd, ""), "\n"), "decoded"},
		{"truncated mid-group", strings.Join(append(lines[:400:400], lines[400][:17], armorEnd, ""), "\n"), "END"},
		{"missing END line", strings.Join(lines[:len(lines)-2], "\n") + "\n", "END"},
		{"damaged END line", strings.Replace(s, armorEnd, "-----END REMAILER MESSAGE", 1), "END"},
		{"bad character", strings.Replace(s, lines[300], lines[300][:10]+"*"+lines[300][11:], 1), "END"},
		{"20479 bytes", string(short), "decoded 20479"},
		{"20481 bytes", string(long), "decoded 20481"},
		{"no MD5 line", strings.Replace(s, "\n"+md5Line+"\n", "\n", 1), "no MD5"},
		{"no BEGIN line", strings.Replace(s, armorBegin, "-----BEGIN PGP MESSAGE-----", 1), "BEGIN"},
		{"QP without the header", head + "\n\n" + qpEncode(body), "no MD5"},
	}
	for _, c := range armour {
		t.Run(c.name, func(t *testing.T) {
			pkts, err := Dearmor([]byte(c.mail))
			if !errors.Is(err, ErrArmor) || len(pkts) != 0 {
				t.Fatalf("got %d packets, error %v; want ErrArmor", len(pkts), err)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %q does not say %q", err, c.reason)
			}
		})
	}

	notPacket := map[string]string{
		"no header":                 strings.Replace(s, "Remailer-Type: Mixmaster 3.0.2d", "X-Remailer: Mixmaster 3.0.2d", 1),
		"other remailer type":       strings.Replace(s, "Remailer-Type: Mixmaster", "Remailer-Type: Cypherpunk", 1),
		"header in body without ::": head + "\n\nRemailer-Type: Mixmaster 3.0.2d\n\n" + body[strings.Index(body, armorBegin):],
		"after the body started":    head + "\n\nHello\n\n::\nRemailer-Type: Mixmaster 3.0.2d\n\n" + body[strings.Index(body, armorBegin):],
		"header only":               head + "\n",
		"empty":                     "",
	}
	for name, m := range notPacket {
		t.Run(name, func(t *testing.T) {
			if pkts, err := Dearmor([]byte(m)); !errors.Is(err, ErrNotPacket) {
				t.Fatalf("got %d packets, error %v; want ErrNotPacket", len(pkts), err)
			}
		})
	}
}

func flipChar(line string) string {
	c := byte('A')
	if line[5] == 'A' {
		c = 'B'
	}
	return line[:5] + string(c) + line[6:]
}

func qpEncode(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// TestDearmorKeepsGoodPackets: a damaged armour does not hide the packets
// around it, as 3.0.2d processes each armour of a mail in turn.
func TestDearmorKeepsGoodPackets(t *testing.T) {
	p1, p2 := testPacket(PacketSize, 1), testPacket(PacketSize, 2)
	bad := strings.Replace(string(ArmorBody(armorVersion, testPacket(PacketSize, 3))), armorEnd, "", 1)
	mail := string(ArmorMail(Envelope{From: "a", To: "b"}, armorVersion, p1)) + "\n" + bad + "\n" +
		string(ArmorBody(armorVersion, p2))
	pkts, err := Dearmor([]byte(mail))
	if !errors.Is(err, ErrArmor) || !strings.Contains(err.Error(), "armour 2") {
		t.Errorf("error %v, want ErrArmor for armour 2", err)
	}
	if len(pkts) != 2 || !bytes.Equal(pkts[0], p1) || !bytes.Equal(pkts[1], p2) {
		t.Errorf("got %d packets, want the two good ones", len(pkts))
	}
}

// TestDearmorLinear guards against work that grows faster than the mail:
// a mail of many armours must not cost an allocation per armour that is
// proportional to the rest of the mail.
func TestDearmorLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("Remailer-Type: Mixmaster\n\n")
	for b.Len() < 1<<20 {
		b.WriteString(armorBegin + "\n123456789012345678901234\nAAAA\n")
	}
	mail := []byte(b.String())
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Dearmor(mail); !errors.Is(err, ErrArmor) {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 16*uint64(len(mail)) {
		t.Errorf("Dearmor of %d bytes allocated %d bytes", len(mail), n)
	}
}

func FuzzDearmor(f *testing.F) {
	for _, name := range []string{
		"a-single-hop-alpha-1024/00-client-to-alpha.eml",
		"g-two-packets-one-mail-alpha/input.eml",
		"a-single-hop-alpha-1024/01-alpha-delivered.eml",
		"r-responders-alpha/02-alpha-output.eml",
	} {
		f.Add(readFile(f, filepath.Join(vectorDir, "vectors", name)))
	}
	f.Add([]byte("Remailer-Type: Mixmaster\n\n" + armorBegin + "\n\n123456789012345678901234\nAAA=BB==\n=46AAAAA\n" + armorEnd))
	f.Add([]byte("Content-Transfer-Encoding: quoted-printable\n\n::\nRemailer-Type: Mixmaster\n\n" + armorBegin + "\n=3D\r\n"))
	f.Fuzz(func(t *testing.T, mail []byte) {
		pkts, err := Dearmor(mail)
		if err != nil && !errors.Is(err, ErrArmor) && !errors.Is(err, ErrNotPacket) {
			t.Fatalf("error %v is neither ErrArmor nor ErrNotPacket", err)
		}
		for _, p := range pkts {
			if len(p) != PacketSize {
				t.Fatalf("packet of %d bytes", len(p))
			}
			again, err := Dearmor(ArmorMail(Envelope{From: "a", To: "b"}, armorVersion, p))
			if err != nil || len(again) != 1 || !bytes.Equal(again[0], p) {
				t.Fatalf("re-armoured packet does not dearmor: %v", err)
			}
		}
	})
}

// FuzzArmorBase64Lines: decoding whole lines with encoding/base64 gives
// exactly what 3.0.2d's group-by-group decoding gives, and stops at the
// same place.
func FuzzArmorBase64Lines(f *testing.F) {
	for _, s := range []string{
		"QUJD\nREVG\n-----END",
		"QUJD\r\nREVG\r\nR0g=\nSUpL\n",
		"QUJD\r\r\r\rREVG\n",
		"=46QUJ\nREVG\n",
		"QU==QUJD\nQUJD\n",
		"QUJDRA\nREVG\n",
		"QUJD REVG\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, gotN := decodeArmorBase64Lines(in, true)
		want, wantN := decodeArmorBase64Lines(in, false)
		if !bytes.Equal(got, want) || gotN != wantN {
			t.Fatalf("%q: whole lines give %q (used %d), groups %q (used %d)", in, got, gotN, want, wantN)
		}
	})
}
