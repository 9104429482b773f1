package mix

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/abuse"
	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

const respVec = "../testdata/mixmaster/vectors/r-responders-alpha/"

// mixmasterDir lays out the Mixmaster directory the vectors' remailer
// name ran from: its remailer-mix.cfg as mix.cfg with the additions
// r-responders-alpha names, its secring.mix, the vectors' pubring, the
// oracle's dest.blk and the operator texts.
func mixmasterDir(t *testing.T, name, cfgExtra string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	keys := "../testdata/mixmaster/keys/" + name + "/"
	cfg, err := os.ReadFile(keys + "remailer-mix.cfg")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"mix.cfg": string(cfg) + cfgExtra}
	for _, f := range []string{"secring.mix", "key.txt"} {
		b, err := os.ReadFile(keys + f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	ring, err := os.ReadFile("../testdata/mixmaster/pubring.mix")
	if err != nil {
		t.Fatal(err)
	}
	files["pubring.mix"] = string(ring)
	files["dest.blk"] = finOracleDestBlock
	files["header.blk"] = DefaultHeaderBlock
	for k, v := range extra {
		files[k] = v
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// outFiles reads the mails a dir: egress wrote, without its X-Envelope
// lines, and empties the folder.
func outFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		to := ""
		for bytes.HasPrefix(b, []byte("X-Envelope-")) {
			line, rest, _ := bytes.Cut(b, []byte("\n"))
			if v, ok := bytes.CutPrefix(line, []byte("X-Envelope-To: <")); ok {
				to = string(bytes.TrimSuffix(v, []byte(">")))
			}
			b = rest
		}
		if _, dup := out[to]; dup {
			t.Fatalf("two mails to %s", to)
		}
		out[to] = b
		os.Remove(f)
	}
	return out
}

// feed stores mails, processes them and sends every answer.
func feed(t *testing.T, n *Node, mails ...[]byte) map[string][]byte {
	t.Helper()
	for _, m := range mails {
		if err := n.Receive(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.ProcessAll(); err != nil {
		t.Fatal(err)
	}
	s, err := n.NewSender()
	if err != nil {
		t.Fatal(err)
	}
	if _, failed, err := n.Flush(t.Context(), true, s); err != nil || failed > 0 {
		t.Fatalf("flush: %d failed, %v", failed, err)
	}
	return outFiles(t, strings.TrimPrefix(n.Cfg.Deliver, "dir:"))
}

func readVec(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(respVec + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// importedAlpha is alpha imported from its Mixmaster directory with the
// operator texts of r-responders-alpha.
func importedAlpha(t *testing.T, sign bool) *Node {
	t.Helper()
	// r-responders-alpha's additions to mix.cfg (its meta.json).
	src := mixmasterDir(t, "alpha", "HELPFILE help.txt\nADMKEYFILE adminkey.txt\nAUTOREPLY y\nMAILBOX mbox\nMAILABUSE mbox.abuse\nMAILBLOCK mbox.block\nMAILUSAGE mbox.usage\n", map[string]string{
		"help.txt":     "Subject: Help for the alpha test remailer\n\nThis is the help file of the alpha test remailer.\nSend Mixmaster packets to alpha@remailer.test.\n",
		"adminkey.txt": "(the operator's OpenPGP key would be here)\n",
		"abuse.txt":    "We received your complaint (this first line deliberately has no blank line before it, like the stock file).\n\nSend a mail containing DESTINATION-BLOCK to block yourself.\n",
	})
	dst := filepath.Join(t.TempDir(), "alpha")
	if _, err := ImportMixmaster(src, dst, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	conf := "allowed_headers =\n"
	if !sign {
		conf += "sign_replies = false\n"
	}
	f, err := os.OpenFile(filepath.Join(dst, ConfigFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	n, err := Open(dst, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// The key, conf, help and admin key answers are what 3.0.2d sent, byte
// for byte; the stats answer has its layout.
func TestAnswersMatchMixmaster(t *testing.T) {
	n := importedAlpha(t, false)
	// 3.0.2d sends the operator's adminkey.txt; ours is the node's own
	// admin key. With the vector's file in place the layout is the same.
	os.WriteFile(filepath.Join(n.Dir, AdminKeyFile), []byte("(the operator's OpenPGP key would be here)\n"), 0o600)
	for _, c := range []struct{ in, out string }{
		{"01-remailer-key.request.eml", "01-alpha-output.eml"},
		{"02-remailer-conf.request.eml", "02-alpha-output.eml"},
		{"03-remailer-help.request.eml", "03-alpha-output.eml"},
		{"04-remailer-adminkey.request.eml", "04-alpha-output.eml"},
	} {
		got := feed(t, n, readVec(t, c.in))
		want := readVec(t, c.out)
		if len(got) != 1 || !bytes.Equal(got["user1@example.test"], want) {
			t.Errorf("%s: got\n%s\nwant\n%s", c.in, got["user1@example.test"], want)
		}
	}
	got := feed(t, n, readVec(t, "06-remailer-stats.request.eml"))["user1@example.test"]
	layout := regexp.MustCompile(`^From: Test Remailer alpha <alpha@remailer.test>\nTo: user1@example.test\nSubject: Statistics for the alpha remailer\n\nNumber of messages in the past 24 hours:\n(   [ 12]\dh: +\d+(  \[Pool size: +\d+\])?\n){24}$`)
	if !layout.Match(got) {
		t.Errorf("stats answer:\n%s", got)
	}
	// No answer to an unknown remailer-* request, nor to other mail (3.0.2d
	// sent usage.txt: backscatter to forged senders).
	if got := feed(t, n, readVec(t, "10-remailer-unknown-file.request.eml"), readVec(t, "08-non-remailer-mail.request.eml")); len(got) != 0 {
		t.Errorf("answers to unknown request or other mail: %q", got)
	}
	// A requests/ file answers its request.
	os.WriteFile(filepath.Join(n.Dir, RequestDir, "remailer-help-xx"), []byte("Subject: Hilfe\n\nHilfetext.\n"), 0o600)
	got = feed(t, n, readVec(t, "10-remailer-unknown-file.request.eml"))["user1@example.test"]
	if !bytes.HasSuffix(got, []byte("\nSubject: Hilfe\n\nHilfetext.\n")) {
		t.Errorf("requests/remailer-help-xx answer: %q", got)
	}
}

func TestComplaintFiledAndAnsweredOnce(t *testing.T) {
	n := importedAlpha(t, false)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	n.Clock = func() time.Time { return now }
	complaint := readVec(t, "09-abuse-complaint.request.eml")
	got := feed(t, n, complaint, complaint)
	want := "From: Test Remailer alpha <alpha@remailer.test>\nTo: angry@example.test\nSubject: Your mail to the alpha remailer\nAuto-Submitted: auto-replied\n\n" +
		"We received your complaint (this first line deliberately has no blank line before it, like the stock file).\n\nSend a mail containing DESTINATION-BLOCK to block yourself.\n"
	if len(got) != 1 || string(got["angry@example.test"]) != want {
		t.Fatalf("answers %q", got)
	}
	files, _ := filepath.Glob(filepath.Join(n.Dir, "abuse", "new", "*"))
	if len(files) != 2 {
		t.Fatalf("%d mails in the abuse Maildir, want 2", len(files))
	}
	for _, f := range files {
		if b, _ := os.ReadFile(f); !bytes.Equal(b, complaint) {
			t.Errorf("filed %q", b)
		}
	}
	// Within the period: filed, not answered; after it: answered again.
	now = now.Add(n.Cfg.AbuseReplyPeriod - time.Minute)
	if got := feed(t, n, complaint); len(got) != 0 {
		t.Fatalf("second answer within the period: %q", got)
	}
	now = now.Add(2 * time.Minute)
	if got := feed(t, n, complaint); len(got) != 1 {
		t.Fatalf("%d answers after the period, want 1", len(got))
	}
	// The state file names nobody.
	if st, _ := os.ReadFile(filepath.Join(n.Dir, ServiceStateFile)); bytes.Contains(st, []byte("angry")) || len(st) == 0 {
		t.Errorf("state file: %q", st)
	}
}

// A forged destination-block blocks nothing: the confirmation goes to the
// address to block. A wrong token blocks nothing; the right one blocks,
// once.
func TestDestinationBlockNeedsConfirmation(t *testing.T) {
	n := importedAlpha(t, false)
	before, _ := os.ReadFile(filepath.Join(n.Dir, DestBlockFile))
	forged := []byte("From: mallory@example.test\nTo: alpha@remailer.test\nSubject: destination-block\n\ndestination-block victim@example.test\n")
	got := feed(t, n, forged)
	conf, ok := got["victim@example.test"]
	if len(got) != 1 || !ok {
		t.Fatalf("answers %q, want one confirmation to the victim", got)
	}
	if after, _ := os.ReadFile(filepath.Join(n.Dir, DestBlockFile)); !bytes.Equal(before, after) || n.destBlocked("victim@example.test") {
		t.Fatal("an unconfirmed request changed dest.blk")
	}
	// A second request while one is open sends nothing.
	if got := feed(t, n, forged); len(got) != 0 {
		t.Fatalf("second confirmation: %q", got)
	}
	toks := abuse.FindTokens(string(conf))
	if len(toks) != 1 || bytes.Contains(conf, []byte("mallory")) {
		t.Fatalf("confirmation %q", conf)
	}
	wrong, _ := abuse.NewToken(rand.Reader)
	feed(t, n, []byte("From: mallory@example.test\nSubject: Re: Confirm destination-block "+wrong+"\n\n"))
	if n.destBlocked("victim@example.test") {
		t.Fatal("a wrong token blocked")
	}
	// The victim's mail program sends an automatic answer quoting it.
	feed(t, n, []byte("From: victim@example.test\nAuto-Submitted: auto-replied\nSubject: Re: Confirm destination-block "+toks[0]+"\n\n"))
	if n.destBlocked("victim@example.test") {
		t.Fatal("an automatic answer confirmed")
	}
	got = feed(t, n, []byte("From: Victim <victim@example.test>\nSubject: Re: Confirm destination-block "+toks[0]+"\n\n> quoted\n"))
	if !n.destBlocked("victim@example.test") || len(got) != 1 || !bytes.Contains(got["victim@example.test"], []byte("You are now blocked")) {
		t.Fatalf("confirmation did not block (answers %q)", got)
	}
	after, _ := os.ReadFile(filepath.Join(n.Dir, DestBlockFile))
	if string(after) != finOracleDestBlock+"victim@example.test\n" {
		t.Fatalf("dest.blk = %q", after)
	}
	// Final messages to the address are dropped from now on.
	data, err := (&packet.Message{Destinations: []string{"victim@example.test"}, Body: []byte("hello\n")}).Encode(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.finalItems(data, time.Now()); !errors.Is(err, ErrNoDestination) {
		t.Fatalf("final message to a blocked address: %v", err)
	}
	// Remailer addresses cannot be blocked.
	if got := feed(t, n, []byte("From: x@example.test\nSubject: destination-block bravo@remailer.test\n\n")); len(got) != 0 {
		t.Fatalf("answers %q", got)
	}
}

func TestRequestLimits(t *testing.T) {
	n := importedAlpha(t, false)
	n.Cfg.ReplyLimitSender, n.Cfg.ReplyLimitTotal = 2, 3
	var mails [][]byte
	for range 8 {
		mails = append(mails, []byte("From: flood@example.test\nSubject: remailer-help\n\n"))
	}
	mails = append(mails, []byte("From: a@example.test\nSubject: remailer-help\n\n"), []byte("From: b@example.test\nSubject: remailer-help\n\n"))
	for _, m := range mails {
		if err := n.Receive(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.ProcessAll(); err != nil {
		t.Fatal(err)
	}
	st, _ := n.Store.Stats(time.Now())
	if st.Pooled != 3 {
		t.Fatalf("%d answers queued, want the total limit 3", st.Pooled)
	}
	if c := n.Counts()[reasonLimited]; c != 7 {
		t.Fatalf("%d requests limited, want 7", c)
	}
}

// The answers that are signed verify with the key remailer-adminkey sends,
// and the signed text is the unsigned answer.
func TestSignedAnswers(t *testing.T) {
	n := importedAlpha(t, true)
	adminKey := feed(t, n, readVec(t, "04-remailer-adminkey.request.eml"))["user1@example.test"]
	_, armored, _ := bytes.Cut(adminKey, []byte("\n\n"))
	if !bytes.HasPrefix(armored, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Fatalf("admin key answer %q", adminKey)
	}
	want := readVec(t, "01-alpha-output.eml")
	_, wantBody, _ := bytes.Cut(want, []byte("\n\n"))
	key := feed(t, n, readVec(t, "01-remailer-key.request.eml"))["user1@example.test"]
	head, body, _ := bytes.Cut(key, []byte("\n\n"))
	if !bytes.HasPrefix(want, head) {
		t.Errorf("header %q", head)
	}
	text, err := VerifyClearsigned(body, armored)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(text, '\n'), wantBody) && !bytes.Equal(text, wantBody) {
		t.Errorf("signed text\n%q\nwant\n%q", text, wantBody)
	}
	// Echolot strips the dash escapes and finds the key block.
	undash := regexp.MustCompile(`(?m)^- -`).ReplaceAll(body, []byte("-"))
	if !regexp.MustCompile(`(?m)^-----Begin Mix Key-----\n45e104448ad3630f8c708b360415423d\n258\n`).Match(undash) ||
		!bytes.Contains(body, []byte("\n$remailer{\"alpha\"} = \"<alpha@remailer.test> mix remix inflt50 rhop5 post\";\n")) {
		t.Errorf("key answer not readable by a pinger:\n%s", body)
	}
	// A tampered text fails.
	bad := bytes.Replace(body, []byte("45e104448ad3630f8c708b360415423d"), []byte("45e104448ad3630f8c708b360415423e"), 1)
	if _, err := VerifyClearsigned(bad, armored); err == nil {
		t.Error("tampered answer verified")
	}
	help := feed(t, n, readVec(t, "03-remailer-help.request.eml"))["user1@example.test"]
	_, hb, _ := bytes.Cut(help, []byte("\n\n"))
	if text, err := VerifyClearsigned(hb, armored); err != nil || !bytes.HasPrefix(text, []byte("This is the help file")) {
		t.Errorf("help answer: %v %q", err, text)
	}
}

func TestRenderStats(t *testing.T) {
	base := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC).Unix()
	samples := []statSample{{base, 100, 0}}
	// 3 packets on 24 Nov (days ago), then hourly samples of the last hours.
	samples = append(samples, statSample{time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC).Unix(), 103, 7})
	samples = append(samples, statSample{time.Date(2026, 11, 26, 13, 5, 0, 0, time.UTC).Unix(), 110, 45})
	cur := statSample{time.Date(2026, 11, 26, 14, 20, 0, 0, time.UTC).Unix(), 112, 47}
	got := string(renderStats(samples, cur))
	for _, want := range []string{
		"Number of messages in the past 24 hours:\n   16h:    0\n",
		"   14h:    7  [Pool size:  45]\n   15h:    2  [Pool size:  47]\n\nNumber of messages per day:\n",
		"Number of messages per day:\n20 Nov:    0  [Pool size:   0]\n21 Nov:    0\n22 Nov:    0\n23 Nov:    0\n24 Nov:    3  [Pool size:   7]\n25 Nov:    0\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stats lack %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "h: ") != 24 || strings.Contains(got, "19 Nov") || strings.Contains(got, "26 Nov") {
		t.Errorf("stats:\n%s", got)
	}
}

// The key lifecycle with a controllable clock: a new key before the old
// one expires, the old one decrypting during the grace period and gone
// after it.
func TestKeyRotation(t *testing.T) {
	t0 := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "n")
	if _, err := Init(dir, InitOptions{Name: "rot", Address: "rot@remailer.test", KeyBits: 1024, Deliver: "dir:" + t.TempDir(), Now: t0}); err != nil {
		t.Fatal(err)
	}
	n, err := Open(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	now := t0
	n.Clock = func() time.Time { return now }
	n.Cfg.KeyBits = 1024
	old := n.OwnKey()
	if old.Expires.IsZero() {
		t.Fatal("the init key does not expire")
	}
	// received builds a packet for key k at now, stores and processes it,
	// and reports whether it decrypted.
	received := func(k *keyring.PublicKey) bool {
		t.Helper()
		msg := &packet.Message{Destinations: []string{"rcpt@example.test"}, Body: []byte("hi\n")}
		out, err := packet.BuildMessage(rand.Reader, now, msg, true, 1, func(int, int) ([]packet.Hop, error) { return []packet.Hop{k.Hop()}, nil })
		if err != nil {
			t.Fatal(err)
		}
		before := n.Counts()[reasonUnknownKey]
		mail := packet.ArmorMail(packet.Envelope{From: "x@example.test", To: n.Cfg.Address}, "3.0.2d", out[0].Packet)
		if err := n.Receive(mail); err != nil {
			t.Fatal(err)
		}
		if err := n.ProcessAll(); err != nil {
			t.Fatal(err)
		}
		return n.Counts()[reasonUnknownKey] == before
	}
	rotate := func() bool {
		t.Helper()
		changed, err := n.rotateKeys(now)
		if err != nil {
			t.Fatal(err)
		}
		return changed
	}
	now = t0.Add(100 * 24 * time.Hour)
	if rotate() {
		t.Fatal("rotated long before the overlap")
	}
	// Inside the overlap: a new key, published in key.txt.
	now = old.Expires.Add(-n.Cfg.KeyOverlap + time.Hour)
	if !rotate() {
		t.Fatal("no new key inside the overlap")
	}
	fresh := n.OwnKey()
	if fresh.KeyID == old.KeyID || !fresh.Expires.After(old.Expires) {
		t.Fatalf("key.txt holds %x, expires %v", fresh.KeyID, fresh.Expires)
	}
	if kt, _ := os.ReadFile(filepath.Join(dir, KeyFile)); !bytes.Contains(kt, []byte(hexID(fresh.KeyID))) {
		t.Fatal("key.txt not rewritten")
	}
	if rotate() {
		t.Fatal("a second new key in the same overlap")
	}
	if ka := string(n.keyAnswer(now)); !strings.Contains(ka, hexID(fresh.KeyID)) || !strings.Contains(ka, hexID(old.KeyID)) ||
		strings.Index(ka, hexID(fresh.KeyID)) > strings.Index(ka, hexID(old.KeyID)) {
		t.Fatal("the key answer does not list both keys, newest first")
	}
	// Expired, within the grace period: still decrypts.
	now = old.Expires.Add(n.Cfg.KeyGrace - time.Hour)
	rotate()
	n.refreshKeys()
	if !received(old) || !received(fresh) {
		t.Fatal("a key did not decrypt during the grace period")
	}
	// After the grace period: destroyed.
	now = old.Expires.Add(n.Cfg.KeyGrace + time.Hour)
	if !rotate() {
		t.Fatal("the old key was not destroyed")
	}
	if received(old) {
		t.Fatal("a packet for the destroyed key decrypted")
	}
	if !received(fresh) {
		t.Fatal("the new key does not decrypt")
	}
	sec, err := os.ReadFile(filepath.Join(dir, SecringFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sec, []byte(hexID(old.KeyID))) {
		t.Fatal("secring.mix still holds the destroyed key")
	}
	// The file is encrypted: no key material in clear, the wrong
	// passphrase opens nothing, mode 0600.
	if fi, _ := os.Stat(filepath.Join(dir, SecringFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("secring.mix mode %v", fi.Mode())
	}
	pass, _ := n.passphrase()
	keys, _ := keyring.ParseSecring(sec, pass)
	if len(keys) != 1 || keys[0].KeyID != fresh.KeyID {
		t.Fatalf("secring.mix holds %d keys", len(keys))
	}
	if k, errs := keyring.ParseSecring(sec, []byte("wrong")); len(k) != 0 || len(errs) == 0 || !errors.Is(errs[0], keyring.ErrPassphrase) {
		t.Fatal("secring.mix opens with a wrong passphrase")
	}
	priv := keys[0].Key
	var blob []byte
	for _, l := range strings.Split(string(sec), "\n") {
		if b, err := base64.StdEncoding.DecodeString(l); err == nil {
			blob = append(blob, b...)
		}
	}
	for _, secret := range [][]byte{priv.D.Bytes(), priv.Primes[0].Bytes(), priv.Primes[1].Bytes()} {
		for _, hay := range [][]byte{sec, blob} {
			if bytes.Contains(hay, secret[:16]) || bytes.Contains(hay, []byte(base64.StdEncoding.EncodeToString(secret)[:20])) {
				t.Fatal("secret key material in clear in secring.mix")
			}
		}
	}
}

func hexID(id packet.KeyID) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 0, 32)
	for _, c := range id {
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return string(b)
}

func TestParseMixCfgAndDurations(t *testing.T) {
	c, warn := ParseMixCfg([]byte("# x\nREMAIL y\nPASSPHRASE      \npoolsize=45\nKEYLIFETIME 20y\nbogus\n=x\n"))
	if v, ok := c["PASSPHRASE"]; !ok || v != "" || c["REMAIL"] != "y" || c["POOLSIZE"] != "45" || c["KEYLIFETIME"] != "20y" || len(warn) != 1 {
		t.Fatalf("%v %v", c, warn)
	}
	for in, want := range map[string]time.Duration{"20y": 20 * 365 * 24 * time.Hour, "7d": 168 * time.Hour, "15m": 15 * time.Minute, "2": 2 * time.Hour, "1b": 720 * time.Hour, "0": 0} {
		if got, ok := mixDuration(in); !ok || got != want {
			t.Errorf("mixDuration(%q) = %v, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "x", "-1d", "99999999999d"} {
		if _, ok := mixDuration(bad); ok {
			t.Errorf("mixDuration(%q) accepted", bad)
		}
	}
}

// FuzzParseMixCfg: the import reads whatever mix.cfg holds.
func FuzzParseMixCfg(f *testing.F) {
	if b, err := os.ReadFile("../testdata/mixmaster/keys/alpha/remailer-mix.cfg"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("A=\n=b\n  C  d  e \n\x00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _ := ParseMixCfg(data)
		for k, v := range c {
			if k == "" || k != strings.ToUpper(k) || strings.ContainsAny(v, "\n") {
				t.Fatalf("%q = %q", k, v)
			}
			mixDuration(v)
			mixBool(v)
		}
	})
}
