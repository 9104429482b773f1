package mix

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mixgo/mixgo/packet"
)

const finVectors = "../testdata/mixmaster"

// finOracleDestBlock is the dest.blk the vectors' remailers ran with: the
// state r-responders-alpha ends with (final-state.dest.blk) minus the line
// its destination-block request appended. It explains d-blocked-dest-alpha
// (blocked@example.test) and d-blocked-*-cc/one-of-two (blocked-domain).
const finOracleDestBlock = "blocked@example.test\nmajordomo@\n/@blocked-domain\\.test/\n"

func TestOracleDestBlock(t *testing.T) {
	got, err := os.ReadFile(filepath.Join(finVectors, "vectors/r-responders-alpha/final-state.dest.blk"))
	if err != nil {
		t.Fatal(err)
	}
	if want := finOracleDestBlock + "victim@example.test\n"; string(got) != want {
		t.Fatalf("final-state.dest.blk = %q, want %q", got, want)
	}
}

// finTraceSection is one "== " section of a trace file.
type finTraceSection map[string]string

func finReadTrace(t *testing.T, path string) []finTraceSection {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var secs []finTraceSection
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "== ") {
			secs = append(secs, finTraceSection{"": line})
			continue
		}
		if len(secs) == 0 || line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		secs[len(secs)-1][k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return secs
}

// finTraceMessages returns the final messages a remailer trace decrypted,
// in order: each FINAL payload, and each chunk set once complete.
func finTraceMessages(t *testing.T, path string) []*packet.Message {
	t.Helper()
	var msgs []*packet.Message
	chunks := map[string]map[int][]byte{}
	for _, s := range finReadTrace(t, path) {
		plain, ok := s["body.plain"]
		if !ok {
			continue
		}
		area, err := hex.DecodeString(plain)
		if err != nil {
			t.Fatal(err)
		}
		data, err := packet.DecodePayload(area)
		if err != nil {
			t.Fatal(err)
		}
		res := s["result"]
		if strings.HasPrefix(res, "PARTIAL") {
			var i, n int
			if _, err := fmt.Sscanf(s["hdr.chunk"], "%d of %d", &i, &n); err != nil {
				t.Fatalf("%s: hdr.chunk %q: %v", path, s["hdr.chunk"], err)
			}
			id := s["hdr.message_id"]
			if chunks[id] == nil {
				chunks[id] = map[int][]byte{}
			}
			chunks[id][i] = data
			if len(chunks[id]) < n {
				continue
			}
			var parts [][]byte
			for j := 1; j <= n; j++ {
				parts = append(parts, chunks[id][j])
			}
			data = packet.JoinChunks(parts)
		} else if !strings.HasPrefix(res, "FINAL") {
			continue
		}
		msg, err := packet.ParseMessage(data)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

// finVectorConfig builds the FinalConfig of remailer name from its
// remailer-mix.cfg, the vector's cfg_extra and state.* files.
func finVectorConfig(t *testing.T, vec, name string) *FinalConfig {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(finVectors, "keys", name, "remailer-mix.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]string{}
	for _, line := range strings.Split(string(text), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		k, val, _ := strings.Cut(line, " ")
		v[k] = strings.TrimSpace(val)
	}
	var meta struct {
		CfgExtra string `json:"cfg_extra"`
	}
	if b, err := os.ReadFile(filepath.Join(vec, "meta.json")); err == nil {
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range strings.Split(meta.CfgExtra, ",") {
		if k, val, ok := strings.Cut(strings.TrimSpace(kv), " "); ok {
			v[k] = val
		}
	}
	state := func(file string) []byte {
		b, err := os.ReadFile(filepath.Join(vec, "state."+file))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	patterns := func(file, def string) PatternList {
		b := state(file)
		if b == nil {
			b = []byte(def)
		}
		l, errs := ParsePatterns(b)
		if errs != nil {
			t.Fatalf("%s: %v", file, errs)
		}
		return l
	}
	cfg := &FinalConfig{
		Address:        v["REMAILERADDR"],
		AnonName:       v["ANONNAME"],
		Complaints:     v["COMPLAINTS"],
		Disclaimer:     state("disclaim.txt"),
		FromDisclaimer: state("fromdscl.txt"),
		Footer:         state("footer.txt"),
		HeaderBlock:    patterns("header.blk", DefaultHeaderBlock),
		DestBlock:      patterns("dest.blk", finOracleDestBlock),
		BinFilter:      strings.Index("nyx", strings.ToLower(v["BINFILTER"] + "n")[:1]),
		MessageID:      v["MID"] != "" && !strings.HasPrefix(strings.ToLower(v["MID"]), "n"),
		News:           v["NEWS"],
		Precedence:     v["PRECEDENCE"],
		KnownRemailers: finKnownRemailers(t),
	}
	if strings.HasPrefix(v["MID"], "@") {
		cfg.MIDDomain = v["MID"]
	}
	if s := v["SIZELIMIT"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		cfg.SizeLimit = n * 1024
	}
	return cfg
}

func finKnownRemailers(t *testing.T) func(string) bool {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(finVectors, "type2.list"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]bool{}
	for _, line := range strings.Split(string(text), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			addrs[f[1]] = true
		}
	}
	return func(a string) bool { return addrs[a] }
}

// finFinalVectors lists every final delivery (or silent drop) of the
// vectors: the trace holding the decrypted payloads, the remailer, and the
// expected output per message in trace order (or the drop error).
var finFinalVectors = []struct {
	vec, trace, remailer string
	outputs              []string
	err                  error
}{
	{"a-single-hop-alpha-1024", "01-alpha.trace.txt", "alpha", []string{"01-alpha-delivered.eml"}, nil},
	{"a-single-hop-bravo-2048", "01-bravo.trace.txt", "bravo", []string{"01-bravo-delivered.eml"}, nil},
	{"a-single-hop-charlie-3072", "01-charlie.trace.txt", "charlie", []string{"01-charlie-delivered.eml"}, nil},
	{"a-single-hop-delta-4096", "01-delta.trace.txt", "delta", []string{"01-delta-delivered.eml"}, nil},
	{"b-three-hop-charlie-delta-bravo", "03-bravo.trace.txt", "bravo", []string{"03-bravo-delivered.eml"}, nil},
	{"b-two-hop-alpha-bravo", "02-bravo.trace.txt", "bravo", []string{"02-bravo-delivered.eml"}, nil},
	{"b-two-hop-bravo-delta", "02-delta.trace.txt", "delta", []string{"02-delta-delivered.eml"}, nil},
	{"b-two-hop-delta-alpha", "02-alpha.trace.txt", "alpha", []string{"02-alpha-delivered.eml"}, nil},
	{"c-compressed-one-chunk-alpha", "01-alpha.trace.txt", "alpha", []string{"01-alpha-delivered.eml"}, nil},
	{"c-exact-boundary-alpha", "01-alpha.trace.txt", "alpha", []string{"01-alpha-delivered.eml"}, nil},
	{"c-three-chunks-alpha", "01-alpha.trace.txt", "alpha", []string{"01-alpha-delivered.eml"}, nil},
	{"c-three-chunks-delta", "01-delta.trace.txt", "delta", []string{"01-delta-delivered.eml"}, nil},
	{"d-blocked-dest-alpha", "01-alpha.trace.txt", "alpha", nil, ErrNoDestination},
	{"d-blocked-dest-regex-cc-alpha", "01-alpha.trace.txt", "alpha", []string{"01-alpha-delivered.eml"}, nil},
	{"d-blocked-one-of-two-to-alpha", "01-alpha.trace.txt", "alpha", nil, ErrNoDestination},
	{"d-news-post-alpha", "01-alpha.trace.txt", "alpha", []string{"01-alpha-delivered.eml"}, nil},
	{"d-two-recipients-alpha", "01-alpha.trace.txt", "alpha", []string{"01-alpha-delivered.eml"}, nil},
	{"d-user-headers-alpha", "01-alpha.trace.txt", "alpha", []string{"01-alpha-delivered.eml"}, nil},
	{"e-dummy-alpha", "01-alpha.trace.txt", "alpha", nil, ErrDummy},
	{"e-dummy-alpha-bravo", "02-bravo.trace.txt", "bravo", nil, ErrDummy},
	{"e-dummy-delta", "01-delta.trace.txt", "delta", nil, ErrDummy},
	{"f-mixed-five-hops", "05-alpha.trace.txt", "alpha", []string{"05-alpha-delivered.eml"}, nil},
	{"f-ten-hops-large-keys", "10-delta.trace.txt", "delta", []string{"10-delta-delivered.eml"}, nil},
	{"f-twenty-hops-1024", "20-echo.trace.txt", "echo", []string{"20-echo-delivered.eml"}, nil},
	{"g-two-copies-alpha", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"g-two-packets-one-mail-alpha", "alpha.trace.txt", "alpha", []string{"01-alpha-output.1.eml", "01-alpha-output.2.eml"}, nil},
	{"g-user-from-and-operator-texts-alpha", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"m-middleman-alpha-dest-allowed", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"m-middleman-alpha-reroutes-via-bravo", "bravo.trace.txt", "bravo", []string{"b01-bravo-output.eml"}, nil},
	{"n-body-bitflip-alpha-1024", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"n-body-bitflip-in-text-alpha-1024", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"n-header-digest-mismatch-alpha", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"n-old-timestamp-first-packet-alpha", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"n-replay-alpha", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"n-timestamps-alpha", "alpha.trace.txt", "alpha", []string{"01-alpha-output.eml"}, nil},
	{"r-responders-alpha", "alpha.trace.txt", "alpha", []string{"05-alpha-output.eml"}, nil},
}

func TestBuildFinalVectors(t *testing.T) {
	for _, v := range finFinalVectors {
		t.Run(v.vec, func(t *testing.T) {
			dir := filepath.Join(finVectors, "vectors", v.vec)
			msgs := finTraceMessages(t, filepath.Join(dir, v.trace))
			cfg := finVectorConfig(t, dir, v.remailer)
			if v.err != nil {
				if len(msgs) != 1 {
					t.Fatalf("%d messages in the trace, want 1", len(msgs))
				}
				d, err := BuildFinal(cfg, msgs[0])
				if !errors.Is(err, v.err) {
					t.Fatalf("BuildFinal = %v, %v; want error %v", d, err, v.err)
				}
				return
			}
			if len(msgs) != len(v.outputs) {
				t.Fatalf("%d messages in the trace, want %d", len(msgs), len(v.outputs))
			}
			for i, msg := range msgs {
				want, err := os.ReadFile(filepath.Join(dir, v.outputs[i]))
				if err != nil {
					t.Fatal(err)
				}
				d, err := BuildFinal(cfg, msg)
				if err != nil {
					t.Fatalf("%s: BuildFinal: %v", v.outputs[i], err)
				}
				if !bytes.Equal(d.Text, want) {
					t.Errorf("%s differs:\n got %q\nwant %q", v.outputs[i], d.Text, want)
				}
				if d.Loop {
					t.Errorf("%s: Loop set", v.outputs[i])
				}
			}
		})
	}
}

// Every final delivery of the vectors is covered by the table above.
func TestFinalVectorsComplete(t *testing.T) {
	covered := map[string]bool{}
	for _, v := range finFinalVectors {
		for _, o := range v.outputs {
			covered[v.vec+"/"+o] = true
		}
	}
	files, err := filepath.Glob(filepath.Join(finVectors, "vectors/*/*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		key := filepath.Base(filepath.Dir(f)) + "/" + name
		if !strings.Contains(name, "-delivered") && !strings.Contains(name, "-output") {
			continue
		}
		if covered[key] {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Next-hop packets and responder replies are not final deliveries.
		if bytes.Contains(b, []byte("\nRemailer-Type: Mixmaster")) || strings.HasPrefix(key, "r-responders-alpha/") {
			continue
		}
		t.Errorf("final delivery %s not tested", key)
	}
}

// The middleman vectors: dest.alw with the recipient lets alpha deliver;
// the stock dest.alw makes it re-route.
func TestAllowedDirectVectors(t *testing.T) {
	allow := func(text string) PatternList {
		l, errs := ParsePatterns([]byte(text))
		if errs != nil {
			t.Fatal(errs)
		}
		return l
	}
	for _, tc := range []struct {
		vec, destAlw string
		want         bool
	}{
		{"m-middleman-alpha-dest-allowed", "rcpt@example.test\n", true},
		{"m-middleman-alpha-dest-allowed", "/^rcpt@example\\.test$/\n", true},
		{"m-middleman-alpha-reroutes-via-bravo", DefaultDestAllow, false},
	} {
		msgs := finTraceMessages(t, filepath.Join(finVectors, "vectors", tc.vec, "alpha.trace.txt"))
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages", tc.vec, len(msgs))
		}
		if got := AllowedDirect(allow(tc.destAlw), msgs[0]); got != tc.want {
			t.Errorf("%s with %q: AllowedDirect = %v, want %v", tc.vec, tc.destAlw, got, tc.want)
		}
	}
}

func TestBuildFinalRecipients(t *testing.T) {
	for _, tc := range []struct {
		vec, trace string
		want       []string
		post       bool
	}{
		{"a-single-hop-alpha-1024", "01-alpha.trace.txt", []string{"rcpt@example.test"}, false},
		{"d-two-recipients-alpha", "01-alpha.trace.txt", []string{"rcpt1@example.test", "rcpt2@example.test"}, false},
		{"d-news-post-alpha", "01-alpha.trace.txt", []string{"mail2news@news.test"}, true},
	} {
		dir := filepath.Join(finVectors, "vectors", tc.vec)
		msgs := finTraceMessages(t, filepath.Join(dir, tc.trace))
		d, err := BuildFinal(finVectorConfig(t, dir, "alpha"), msgs[0])
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(d.Recipients) != fmt.Sprint(tc.want) || d.Post != tc.post {
			t.Errorf("%s: recipients %q post %v, want %q %v", tc.vec, d.Recipients, d.Post, tc.want, tc.post)
		}
	}
}

// bravo has no NEWS: the same post is refused there.
func TestBuildFinalPostRefused(t *testing.T) {
	dir := filepath.Join(finVectors, "vectors", "d-news-post-alpha")
	msgs := finTraceMessages(t, filepath.Join(dir, "01-alpha.trace.txt"))
	for _, news := range []string{"", "/usr/bin/inews -h", "a@b c@d"} {
		cfg := finVectorConfig(t, dir, "alpha")
		cfg.News = news
		if _, err := BuildFinal(cfg, msgs[0]); !errors.Is(err, ErrPostRefused) {
			t.Errorf("NEWS %q: %v, want ErrPostRefused", news, err)
		}
	}
}

// finTestConfig is a plain exit: stock header.blk, built-in texts.
func finTestConfig(t *testing.T) *FinalConfig {
	t.Helper()
	hb, errs := ParsePatterns([]byte(DefaultHeaderBlock))
	if errs != nil {
		t.Fatal(errs)
	}
	return &FinalConfig{
		Address:     "exit@remailer.test",
		Complaints:  "abuse@remailer.test",
		HeaderBlock: hb,
		MessageID:   true,
	}
}

func finMsg(dest []string, headers []string, body string) *packet.Message {
	return &packet.Message{Destinations: dest, Headers: headers, Body: []byte(body)}
}

const finDisclaimer = "Comments: This message did not originate from the Sender address above.\n" +
	"\tIt was remailed automatically by anonymizing remailer software.\n" +
	"\tPlease report problems or inappropriate use to the\n" +
	"\tremailer administrator at <abuse@remailer.test>.\n"

func TestFinalText(t *testing.T) {
	for _, tc := range []struct {
		msg  *packet.Message
		want string
	}{
		{finMsg([]string{"a@x", "b@y"}, []string{"Subject: s"}, "body\n"), "To: a@x,b@y\nSubject: s\n\nbody\n"},
		{finMsg([]string{"post: a.b", "post:c.d", "post:"}, nil, "b"), "Newsgroups: a.b,c.d\nSubject: (no subject)\n\nb"},
		{finMsg([]string{"POST:  x", "r@x"}, []string{"subject: lower"}, ""), "To: r@x\nNewsgroups: x\nsubject: lower\n\n"},
		{finMsg([]string{"post: a", "post:   "}, nil, ""), "Newsgroups: a,\nSubject: (no subject)\n\n"},
		{finMsg([]string{"a@x", "NULL:"}, nil, "x"), ""},
	} {
		if got := FinalText(tc.msg); string(got) != tc.want {
			t.Errorf("FinalText(%v) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestBuildFinalHeaders(t *testing.T) {
	cfg := finTestConfig(t)
	msg := finMsg([]string{"r@example.test"}, []string{
		"Subject: hi",
		"no colon here",
		"X-Long: one",
		"\t two", // a continuation line, as a "##" section can bring
		"Bcc: hidden@example.test",
		"Message-ID: <x@y>",
	}, "line 1\r\nline 2")
	d, err := BuildFinal(cfg, msg)
	if err != nil {
		t.Fatal(err)
	}
	want := "From: Anonymous <exit@remailer.test>\n" + finDisclaimer +
		"To: r@example.test\nSubject: hi\nX-Invalid: no colon here\nX-Long: one\t two\n" +
		"Message-ID: <" + finMD5("line 1\r\nline 2") + "@remailer.test>\n\nline 1\nline 2\n"
	if string(d.Text) != want {
		t.Errorf("Text\n got %q\nwant %q", d.Text, want)
	}
	if fmt.Sprint(d.Recipients) != "[r@example.test hidden@example.test]" {
		t.Errorf("Recipients %q", d.Recipients)
	}
}

func finMD5(s string) string {
	cfg := &FinalConfig{MessageID: true}
	m, _, _ := cfg.filterMessage([]byte("To: x\n\n" + s))
	i := bytes.Index(m, []byte("Message-ID: <"))
	return string(m[i+13 : i+45])
}

func TestBuildFinalMessageID(t *testing.T) {
	msg := finMsg([]string{"r@x.test"}, nil, "This is a short test body.\nSecond line.\n")
	for _, tc := range []struct {
		cfg  FinalConfig
		want string
	}{
		{FinalConfig{Address: "a@remailer.test", MessageID: true}, "Message-ID: <40d69f9311cdf3a72a965bd2ee499423@remailer.test>\n"},
		{FinalConfig{Address: "a@remailer.test", MessageID: true, MIDDomain: "@mid.test"}, "Message-ID: <40d69f9311cdf3a72a965bd2ee499423@mid.test>\n"},
		{FinalConfig{Address: "a@remailer.test", MessageID: true, MIDDomain: "mid.test"}, "Message-ID: <40d69f9311cdf3a72a965bd2ee499423@mid.test>\n"},
		{FinalConfig{Address: "local", Complaints: "abuse@c.test", MessageID: true}, "Message-ID: <40d69f9311cdf3a72a965bd2ee499423@c.test>\n"},
		{FinalConfig{Address: "local", MessageID: true}, "Message-ID: <40d69f9311cdf3a72a965bd2ee499423>\n"},
		{FinalConfig{Address: "a@remailer.test"}, ""},
	} {
		d, err := BuildFinal(&tc.cfg, msg)
		if err != nil {
			t.Fatal(err)
		}
		if got := finLineWith(d.Text, "Message-ID:"); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

func finLineWith(text []byte, prefix string) string {
	for _, l := range strings.SplitAfter(string(text), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func TestBuildFinalUserFrom(t *testing.T) {
	cfg := finTestConfig(t)
	cfg.HeaderBlock = nil
	cfg.Precedence = "anon"
	cfg.FromDisclaimer = []byte("[unverified From]\n")
	cfg.Footer = []byte("-- \nfooter\n")
	cfg.AnonName = "Nobody"
	d, err := BuildFinal(cfg, finMsg([]string{"r@x.test"}, []string{"FROM: me <me@x.test>"}, "b\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "Precedence: anon\nSender: Nobody <exit@remailer.test>\n" + finDisclaimer +
		"To: r@x.test\nFROM: me <me@x.test>\nMessage-ID: <" + finMD5("b\n") + "@remailer.test>\n\n[unverified From]\nb\n-- \nfooter\n"
	if string(d.Text) != want {
		t.Errorf("Text\n got %q\nwant %q", d.Text, want)
	}
}

func TestBuildFinalDrops(t *testing.T) {
	pl := func(s string) PatternList {
		l, errs := ParsePatterns([]byte(s))
		if errs != nil {
			t.Fatal(errs)
		}
		return l
	}
	body := "short body\n"
	for _, tc := range []struct {
		name string
		set  func(*FinalConfig)
		msg  *packet.Message
		want error
	}{
		{"dummy", nil, finMsg([]string{"null:"}, nil, ""), ErrDummy},
		{"size", func(c *FinalConfig) { c.SizeLimit = 20 }, finMsg([]string{"r@x.test"}, nil, body), ErrTooLarge},
		{"control q", nil, finMsg([]string{"post: alt.test"}, []string{"Control: newgroup alt.x"}, body), ErrRejected},
		{"crosspost q", func(c *FinalConfig) { c.News = "m2n@x.test" },
			finMsg([]string{"post: a,b,c,d,e,f"}, nil, body), ErrRejected},
		{"no destination", nil, finMsg(nil, []string{"Subject: x"}, body), ErrNoDestination},
		{"all blocked", func(c *FinalConfig) { c.DestBlock = pl("@x.test\n") },
			finMsg([]string{"r@x.test"}, []string{"Cc: c@x.test"}, body), ErrNoDestination},
		{"newsgroups only mail", nil, finMsg(nil, []string{"Newsgroups: alt.test"}, body), ErrNoRecipients},
		{"to removed by header.blk", func(c *FinalConfig) { c.HeaderBlock = pl("/^To:/\n") },
			finMsg([]string{"r@x.test"}, nil, body), ErrNoRecipients},
		{"post refused", nil, finMsg([]string{"post: alt.test"}, nil, body), ErrPostRefused},
		{"gateway blocked", func(c *FinalConfig) { c.News = "m2n@x.test"; c.DestBlock = pl("m2n@") },
			finMsg([]string{"post: alt.test"}, nil, body), ErrNoRecipients},
		{"gateway q", func(c *FinalConfig) { c.News = "m2n@x.test"; c.DestBlock = pl("/m2n@/q") },
			finMsg([]string{"post: alt.test"}, nil, body), ErrRejected},
		{"six recipients", nil, finMsg([]string{"a@x", "b@x", "c@x", "d@x", "e@x", "f@x"}, nil, body), ErrTooManyRecipients},
		{"cc counted", func(c *FinalConfig) { c.MaxRecipients = 2 },
			finMsg([]string{"a@x", "b@x"}, []string{"Cc: c@x"}, body), ErrTooManyRecipients},
		{"two remailers", func(c *FinalConfig) {
			c.KnownRemailers = func(a string) bool { return strings.HasSuffix(a, "@remailer.test") }
		}, finMsg([]string{"alpha@remailer.test", "bravo@remailer.test"}, nil, body), ErrSeveralRemailers},
		{"binary", func(c *FinalConfig) { c.BinFilter = 2 }, finMsg([]string{"r@x.test"}, nil, finUU(12)), ErrBinary},
	} {
		cfg := finTestConfig(t)
		if tc.set != nil {
			tc.set(cfg)
		}
		d, err := BuildFinal(cfg, tc.msg)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: BuildFinal = %v, %v; want %v", tc.name, d, err, tc.want)
		}
	}
}

func TestBuildFinalAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*FinalConfig)
		msg  *packet.Message
		loop bool
		has  string
	}{
		{"five recipients", nil, finMsg([]string{"a@x", "b@x", "c@x", "d@x", "e@x"}, nil, "b"), false, ""},
		{"one remailer of two", nil, finMsg([]string{"alpha@remailer.test", "r@x"}, nil, "b"), false, ""},
		{"own address", nil, finMsg([]string{"exit@remailer.test"}, nil, "b"), true, ""},
		{"size at limit", func(c *FinalConfig) { c.SizeLimit = len("To: r@x\n\nb") },
			finMsg([]string{"r@x"}, nil, "b"), false, ""},
		{"dest.blk q keeps the line", func(c *FinalConfig) { c.DestBlock, _ = ParsePatterns([]byte("/q@x/q\n")) },
			finMsg([]string{"r@x"}, []string{"Cc: q@x"}, "b"), false, "\nCc: q@x\n"},
		{"dest.blk rewrite", func(c *FinalConfig) { c.DestBlock, _ = ParsePatterns([]byte("/^To: (.*)@old/To: $1@new/\n")) },
			finMsg([]string{"r@old"}, nil, "b"), false, "\nTo: r@new\n"},
	} {
		cfg := finTestConfig(t)
		cfg.KnownRemailers = func(a string) bool { return strings.HasSuffix(a, "@remailer.test") }
		if tc.set != nil {
			tc.set(cfg)
		}
		d, err := BuildFinal(cfg, tc.msg)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if d.Loop != tc.loop {
			t.Errorf("%s: Loop = %v", tc.name, d.Loop)
		}
		if !bytes.Contains(d.Text, []byte(tc.has)) {
			t.Errorf("%s: %q not in %q", tc.name, tc.has, d.Text)
		}
	}
}

// finUU is n uuencode-like lines of 61 characters.
func finUU(n int) string {
	return strings.Repeat("M"+strings.Repeat("0", 60)+"\n", n)
}

func TestBuildFinalBinFilter(t *testing.T) {
	body := "text\n" + finUU(15) + "after\n"
	want := "text\n" + finUU(10) + "[...]\nafter\n"
	cfg := finTestConfig(t)
	cfg.MessageID = false
	cfg.BinFilter = 1
	d, err := BuildFinal(cfg, finMsg([]string{"r@x"}, nil, body))
	if err != nil {
		t.Fatal(err)
	}
	if _, got, _ := strings.Cut(string(d.Text), "\n\n"); got != want {
		t.Errorf("body\n got %q\nwant %q", got, want)
	}
	// Inside PGP armour nothing is cut; BINFILTER off cuts nothing.
	armored := "-----BEGIN PGP MESSAGE-----\n" + finUU(15) + "-----END PGP MESSAGE-----\n"
	for _, tc := range []struct {
		bin  int
		body string
	}{{1, armored}, {0, body}} {
		cfg.BinFilter = tc.bin
		d, err := BuildFinal(cfg, finMsg([]string{"r@x"}, nil, tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if _, got, _ := strings.Cut(string(d.Text), "\n\n"); got != tc.body {
			t.Errorf("BINFILTER %d changed the body: %q", tc.bin, got)
		}
	}
}

func TestBuildFinalNewsGateway(t *testing.T) {
	cfg := finTestConfig(t)
	cfg.News = "m2n@news.test,m2n@other.test"
	d, err := BuildFinal(cfg, finMsg([]string{"post: alt.test"}, nil, "b\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "From: Anonymous <exit@remailer.test>\nTo: m2n@news.test,m2n@other.test\n" + finDisclaimer +
		"Newsgroups: alt.test\nSubject: (no subject)\nMessage-ID: <" + finMD5("b\n") + "@remailer.test>\n\nb\n"
	if string(d.Text) != want || !d.Post || fmt.Sprint(d.Recipients) != "[m2n@news.test m2n@other.test]" {
		t.Errorf("got %q post %v recipients %q", d.Text, d.Post, d.Recipients)
	}
}

func TestHdrEncode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"From: Anonymous <a@b>", "From: Anonymous <a@b>"},
		{"From: Jörg Müller <a@b>", "From: =?iso-8859-1?Q?J=C3=B6rg_M=C3=BCller?= <a@b>"},
		{"From: x  y ", "From: x  y"},
		{"From: a=b? é", "From: a=b? =?iso-8859-1?Q?=C3=A9?="},
	} {
		if got := finHdrEncode(tc.in, 255); got != tc.want {
			t.Errorf("finHdrEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := "From: " + strings.Repeat("é", 80) + " <a@b>"
	got := finHdrEncode(long, 255)
	if !strings.Contains(got, "\n\t <a@b>") || strings.Count(got, "\n") != 1 {
		t.Errorf("long name not folded before the address: %q", got)
	}
}

func TestAddrList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a@x.test", []string{"a@x.test"}},
		{"a@x.test, B <b@y.test>,c@z", []string{"a@x.test", "b@y.test", "c@z"}},
		{`"Q, name" <q@x>, (comment) local`, []string{"q@x", "local"}},
		{"<q@x> , r@y", []string{"q@x"}}, // 3.0.2d stops at a blank after '>'
		{"q@x (c) , r@y", []string{"q@x", "r@y"}},
		{"alt.test,misc.test", []string{"alt"}},
		{"<postmaster>", []string{"postmaster"}},
		{"list: a@x;", []string{"a@x", ""}},
		{"list:;", []string{""}},
		{"a@x (unterminated", []string{"a@x"}},
		{"", nil},
		{"@@", nil},
		{"a@x,\n\tb@y", []string{"a@x", "b@y"}},
	} {
		if got := finAddrList(tc.in); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("finAddrList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	deep := strings.Repeat("(", 5000) + "x"
	finAddrList("a@b " + deep) // must not exhaust the stack
}

func TestAllowedDirect(t *testing.T) {
	allow, errs := ParsePatterns([]byte("@ok.test\n/^alt$/\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	for _, tc := range []struct {
		msg  *packet.Message
		want bool
	}{
		{finMsg([]string{"a@ok.test", "b@ok.test"}, nil, ""), true},
		{finMsg([]string{"a@ok.test", "b@bad.test"}, nil, ""), false},
		{finMsg([]string{"a@ok.test"}, []string{"Cc: c@bad.test"}, ""), false},
		{finMsg([]string{"a@ok.test"}, []string{"BCC: Name <c@ok.test>"}, ""), true},
		{finMsg([]string{"post: alt.test,misc.test"}, nil, ""), true}, // only "alt" is checked, as in 3.0.2d
		{finMsg([]string{"post: misc.test"}, nil, ""), false},
		{finMsg(nil, []string{"Subject: none"}, ""), true},
		{finMsg([]string{"null:"}, nil, ""), false},
	} {
		if got := AllowedDirect(allow, tc.msg); got != tc.want {
			t.Errorf("AllowedDirect(%v) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

func TestStripBcc(t *testing.T) {
	in := "From: a\nBcc: x@y,\n z@w\nbcc:q@r\nTo: t@u\n\nBcc: in body\n"
	if got := string(finStripBcc([]byte(in))); got != "From: a\nTo: t@u\n\nBcc: in body\n" {
		t.Errorf("finStripBcc = %q", got)
	}
}

func FuzzBuildFinal(f *testing.F) {
	f.Add("r@x.test\x00post: alt.test", "Subject: s\x00From: a@b\x00Cc: c@d, e@f", []byte("body\nline\n"), uint8(1), false)
	f.Add("null:", "", []byte{}, uint8(0), true)
	f.Add("list: a@x;\x00<p>", "no colon\x00\t cont", []byte(finUU(12)), uint8(2), false)
	f.Add("(((\x00\"q", "Bcc: (x\x00To: \"", []byte("\x00\r\n\r"), uint8(3), true)
	hb, _ := ParsePatterns([]byte(DefaultHeaderBlock))
	db, _ := ParsePatterns([]byte(finOracleDestBlock + "/(x)@(y)/$2-$1$9$/\n"))
	f.Fuzz(func(t *testing.T, dest, headers string, body []byte, flags uint8, userFrom bool) {
		msg := &packet.Message{Body: body}
		if dest != "" {
			msg.Destinations = strings.Split(dest, "\x00")
		}
		if headers != "" {
			msg.Headers = strings.Split(headers, "\x00")
		}
		cfg := &FinalConfig{
			Address:        "exit@remailer.test",
			DestBlock:      db,
			BinFilter:      int(flags % 3),
			MessageID:      flags&4 != 0,
			MaxRecipients:  int(flags >> 4),
			Precedence:     "bulk",
			KnownRemailers: func(a string) bool { return strings.HasPrefix(a, "r") },
		}
		if flags&8 != 0 {
			cfg.News = "m2n@news.test"
		}
		if !userFrom {
			cfg.HeaderBlock = hb
		}
		AllowedDirect(db, msg)
		d, err := BuildFinal(cfg, msg)
		if err != nil {
			if d != nil {
				t.Fatal("delivery with an error")
			}
			return
		}
		if !bytes.Contains(d.Text, []byte("\n\n")) {
			t.Fatalf("no header/body separator: %q", d.Text)
		}
	})
}

func TestEnvelopeAddrs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"A <a@x.test> , b@y.test", []string{"a@x.test", "b@y.test"}},
		{"\"Q, R\" <q@x.test>,\n\tr@y.test", []string{"q@x.test", "r@y.test"}},
		{"postmaster", []string{"postmaster"}},
		{"list: a@x;", []string{"a@x"}},
		{"(((", nil},
	} {
		if got := finEnvelopeAddrs(tc.in); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("finEnvelopeAddrs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
