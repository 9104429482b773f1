package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/pinger"
)

// The golden remailers alpha…echo (whose secret keys decode the packets)
// with statistics: delta is unreliable, echo slow, so neither is chosen at
// random under the default limits; bravo delivers at most 1 kB.
var goldenStats = []struct {
	name    string
	uptime  float64
	latency time.Duration
	caps    []string
}{
	{"alpha", 100, 10 * time.Minute, []string{"mix", "post"}},
	{"bravo", 99.5, 20 * time.Minute, []string{"mix", "klen1"}},
	{"charlie", 99.9, time.Hour, []string{"mix"}},
	{"delta", 95, 15 * time.Minute, []string{"mix"}},
	{"echo", 100, 40 * time.Hour, []string{"mix"}},
}

// pingerDir writes what a pinger publishes for the golden remailers, with
// statistics generated at generated.
func pingerDir(t *testing.T, generated time.Time) string {
	t.Helper()
	dir := t.TempDir()
	l := &pinger.List{Generated: generated}
	for _, r := range goldenStats {
		l.Rows = append(l.Rows, pinger.Row{Name: r.name, LatentHist: "000000000000", Latency: r.latency,
			UptimeHist: "++++++++++++", Uptime: r.uptime, Options: pinger.OptionsColumn(r.caps)})
		l.Caps = append(l.Caps, pinger.Capstring{Name: r.name, Address: r.name + "@remailer.test", Caps: r.caps})
	}
	pinger.SortRows(l.Rows, false)
	for name, data := range map[string][]byte{
		"pubring.mix": readFile(t, filepath.Join(vectors, "pubring.mix")),
		"type2.list":  readFile(t, filepath.Join(vectors, "type2.list")),
		"mlist2.txt":  pinger.RenderMlist2(l),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// clientDir is a client directory updated from a fresh pinger directory.
func clientDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "client")
	r := mix(t, nil, "update", "--from", pingerDir(t, time.Now().Add(-time.Hour)), "--dir", dir)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("update: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	return dir
}

func TestUpdateListChain(t *testing.T) {
	dir := clientDir(t)
	r := mix(t, nil, "list", "--dir", dir)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("list: %d %s", r.code, r.stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^alpha +alpha@remailer\.test +CNm +1024 +0:10 +100\.0% +yes +yes`),
		regexp.MustCompile(`(?m)^delta .* 95\.0% +no: reliability +no: reliability`),
		regexp.MustCompile(`(?m)^echo .* 40:00 +100\.0% +no: latency-high +no: latency-high`),
		regexp.MustCompile(`reliability ≥ 98% \(exit ≥ 99%\), latency 5m–36h`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("list does not match %s:\n%s", want, r.stdout)
		}
	}

	// MIXDIR names the client directory.
	cmd := exec.Command(mixBin, "list")
	cmd.Env = append(os.Environ(), "MIXDIR="+dir)
	if out, err := cmd.Output(); err != nil || !bytes.Contains(out, []byte("charlie@remailer.test")) {
		t.Errorf("list with MIXDIR: %v\n%s", err, out)
	}

	r = mix(t, nil, "chain", "--dir", dir, "--chain", "*,delta,*", "--copies", "10")
	if r.code != 0 {
		t.Fatalf("chain: %d %s", r.code, r.stderr)
	}
	copies := regexp.MustCompile(`(?m)^Copy \d+: (\w+),delta,(\w+)$`).FindAllStringSubmatch(r.stdout, -1)
	if len(copies) != 10 {
		t.Fatalf("%d copies shown:\n%s", len(copies), r.stdout)
	}
	for _, c := range copies {
		// Distance 2 keeps delta from the first hop; the statistics
		// exclude echo; the exit is shared.
		if c[1] == "echo" || c[1] == "delta" || c[2] != copies[0][2] || c[2] == "echo" || c[2] == "delta" {
			t.Errorf("chain %v", c)
		}
	}
	for _, want := range []string{"delta        hop   95.0%   0:15  named (would not be chosen at random: reliability)", "random", "Random exit (reliability ≥ 99%", "1 below 99% reliability: delta (95.00%)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("chain output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// Packets of random chains with copies, decoded hop by hop with the
// remailers' real secret keys: every copy ends at the same exit with the
// same packet ID there, and the copies took different paths.
func TestSendCopiesDecode(t *testing.T) {
	dir := clientDir(t)
	out := t.TempDir()
	body := []byte("ten copies, one delivery\n")
	// No limits: all five remailers qualify, so paths vary.
	r := mix(t, body, "send", "--dir", dir, "--hops", "3", "--copies", "10", "--minrel", "0", "--relfinal", "0", "--maxlat", "0",
		"--to", "rcpt@example.test", "--out", out)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("send: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	if len(files) != 10 {
		t.Fatalf("%d packets, want 10", len(files))
	}
	paths := map[string]bool{}
	var exitID, exit string
	for _, f := range files {
		mail := readFile(t, f)
		hop := strings.TrimSuffix(headerLine(mail, "To"), "@remailer.test")
		var names []string
		for i := 0; ; i++ {
			names = append(names, hop)
			next := filepath.Join(t.TempDir(), "next")
			m := decode(t, mail, hop, "--next", next)
			if m["type"] == "final" {
				if m["body"] != string(body) {
					t.Fatalf("body %q", m["body"])
				}
				if exitID == "" {
					exitID, exit = m["packet_id"].(string), hop
				}
				if m["packet_id"] != exitID || hop != exit {
					t.Errorf("copy ends at %s with packet ID %v; first copy at %s with %s", hop, m["packet_id"], exit, exitID)
				}
				break
			}
			if i > 3 {
				t.Fatal("more than 3 hops")
			}
			hop = strings.TrimSuffix(m["next_hop"].(string), "@remailer.test")
			mail = readFile(t, next)
		}
		if len(names) != 3 || names[0] == names[1] || names[1] == names[2] || names[0] == names[2] {
			t.Errorf("path %v breaks the distance rule", names)
		}
		paths[strings.Join(names, ",")] = true
	}
	// 10 copies all on one of the 12 possible paths: probability 12⁻⁹.
	if len(paths) < 2 {
		t.Errorf("all copies took the path %v", paths)
	}
}

func headerLine(mail []byte, name string) string {
	head, _, _ := bytes.Cut(mail, []byte("\n\n"))
	for _, l := range strings.Split(string(head), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestClientErrors(t *testing.T) {
	dir := clientDir(t)
	big := bytes.Repeat([]byte("x"), 2000)
	for _, c := range []struct {
		name  string
		body  []byte
		args  []string
		code  int
		wants []string
	}{
		{"unknown remailer", nil, []string{"send", "--chain", "alpha,nosuch,bravo"}, 1,
			[]string{`unknown remailer "nosuch"`, "hop 2", "mix list"}},
		{"no remailer meets the limits", nil, []string{"send", "--hops", "2", "--maxlat", "5m"}, 1,
			[]string{"no remailer for the exit (hop 2 of 2)", "1 below 99% reliability", "4 with latency above 5m", "--maxlat"}},
		{"too large for the named exit", big, []string{"send", "--chain", "*,bravo"}, 1,
			[]string{"bravo delivers at most 1 kB (klen1), the message is 2 kB"}},
		{"copies through a fixed chain", nil, []string{"send", "--chain", "alpha,bravo", "--copies", "2"}, 1,
			[]string{"copies", "put a * in the chain"}},
		{"post through an exit that cannot post", nil, []string{"send", "--chain", "*,charlie", "--newsgroups", "alt.test"}, 1,
			[]string{"charlie cannot post to Usenet"}},
		{"chain and hops", nil, []string{"send", "--chain", "*,*", "--hops", "2"}, 2, []string{"--chain or --hops"}},
		{"bad threshold", nil, []string{"send", "--minrel", "120"}, 2, []string{"minrel 120"}},
		{"no destination", nil, []string{"send", "--hops", "2", "--to", "a@b.test"}, 2, []string{"--out DIR or --smtp"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{}, c.args...), "--dir", dir)
			if !strings.Contains(c.name, "destination") {
				args = append(args, "--out", t.TempDir())
			}
			if !strings.Contains(strings.Join(c.args, " "), "--to") && !strings.Contains(strings.Join(c.args, " "), "--newsgroups") {
				args = append(args, "--to", "rcpt@example.test")
			}
			r := mix(t, c.body, args...)
			if r.code != c.code || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q", r.code, c.code, r.stdout, r.stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
		})
	}
	// A random exit is chosen among those that take the message: bravo
	// never, though it qualifies otherwise.
	r := mix(t, big, "chain", "--dir", dir, "--chain", "*,*", "--copies", "10", "--size", "2000")
	if r.code != 0 || strings.Contains(r.stdout, ",bravo\n") || !strings.Contains(r.stdout, "size limit (klen) below the message: bravo") {
		t.Errorf("chain for 2000 bytes: %d %s\n%s", r.code, r.stderr, r.stdout)
	}
}

func TestStaleStatistics(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "client")
	r := mix(t, nil, "update", "--from", pingerDir(t, time.Now().Add(-72*time.Hour)), "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: the statistics are 3 days") {
		t.Fatalf("update of stale statistics: %d %q", r.code, r.stderr)
	}
	r = mix(t, []byte("hi\n"), "send", "--dir", dir, "--hops", "2", "--to", "rcpt@example.test", "--out", t.TempDir())
	if r.code != 0 || !strings.Contains(r.stderr, "run 'mix update'") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("send with stale statistics: %d %q", r.code, r.stderr)
	}
	r = mix(t, []byte("hi\n"), "send", "--dir", dir, "--max-age", "100h", "--hops", "2", "--to", "rcpt@example.test", "--out", t.TempDir())
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("send with --max-age 100h: %d %q", r.code, r.stderr)
	}
	// The same limit from mix.conf.
	os.WriteFile(filepath.Join(dir, "mix.conf"), []byte("stats_max_age = 5d\n"), 0o600)
	r = mix(t, []byte("hi\n"), "send", "--dir", dir, "--hops", "2", "--to", "rcpt@example.test", "--out", t.TempDir())
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("send with stats_max_age 5d: %d %q", r.code, r.stderr)
	}
	// A broken update keeps the previous lists and says so.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "pubring.mix"), []byte("<html>404</html>\n"), 0o600)
	r = mix(t, nil, "update", "--from", bad, "--dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "the previous lists are kept") {
		t.Fatalf("broken update: %d %q", r.code, r.stderr)
	}
	if r := mix(t, nil, "list", "--dir", dir); r.code != 0 || !strings.Contains(r.stdout, "alpha") {
		t.Fatalf("list after a broken update: %d %q", r.code, r.stderr)
	}
	// Without --from, the last good source is used again (no warning:
	// mix.conf allows 5 days).
	if r := mix(t, nil, "update", "--dir", dir, "--verbose"); r.code != 0 || !strings.Contains(r.stdout, "5 keys") || r.stderr != "" {
		t.Fatalf("update from the last source: %d %q %q", r.code, r.stdout, r.stderr)
	}
}
