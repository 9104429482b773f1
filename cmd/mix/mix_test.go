package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The CLI is tested as a CLI: the real binary, real files.

const vectors = "../../testdata/mixmaster"

var mixBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mixbin")
	if err != nil {
		panic(err)
	}
	mixBin = filepath.Join(dir, "mix")
	if out, err := exec.Command("go", "build", "-o", mixBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func mix(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(mixBin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func keyArgs(name string) []string {
	return []string{"--secring", filepath.Join(vectors, "keys", name, "secring.mix"),
		"--passphrase-file", filepath.Join(vectors, "keys", name, "passphrase.txt")}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, input []byte, name string, extra ...string) map[string]any {
	t.Helper()
	r := mix(t, input, append(append([]string{"packet", "decode"}, keyArgs(name)...), extra...)...)
	if r.code != 0 {
		t.Fatalf("decode with %s: exit %d: %s", name, r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("decode output %q: %v", r.stdout, err)
	}
	if strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Errorf("decode printed more than one line: %q", r.stdout)
	}
	return m
}

func TestDecodeVectors(t *testing.T) {
	dir := filepath.Join(vectors, "vectors", "b-two-hop-alpha-bravo")
	next := filepath.Join(t.TempDir(), "next.bin")
	m := decode(t, readFile(t, filepath.Join(dir, "00-client-to-alpha.eml")), "alpha", "--next", next)
	if m["type"] != "intermediate" || m["next_hop"] != "bravo@remailer.test" || m["key_id"] != "45e104448ad3630f8c708b360415423d" {
		t.Fatalf("hop 1: %v", m)
	}
	want := readFile(t, filepath.Join(dir, "01-alpha-to-bravo.packet.bin"))
	got := readFile(t, next)
	if len(got) != 20480 || !bytes.Equal(got[:9728], want[:9728]) || !bytes.Equal(got[10240:], want[10240:]) {
		t.Fatal("next packet differs from the real remailer's outside the random slot")
	}
	// The raw next packet is accepted as input too.
	m = decode(t, got, "bravo")
	if m["type"] != "final" || m["timestamp_days"] == nil {
		t.Fatalf("hop 2: %v", m)
	}
	input := string(readFile(t, filepath.Join(dir, "input-message.txt")))
	_, body, _ := strings.Cut(input, "\n\n")
	if m["body"] != body {
		t.Errorf("body %q, want %q", m["body"], body)
	}
	if d := m["destinations"].([]any); len(d) != 1 || d[0] != "rcpt@example.test" {
		t.Errorf("destinations %v", d)
	}

	c := filepath.Join(vectors, "vectors", "c-three-chunks-alpha", "00-client-to-alpha.chunk2of3.eml")
	m = decode(t, readFile(t, c), "alpha")
	if m["type"] != "chunk" || m["chunk"] != 2.0 || m["chunks"] != 3.0 || len(m["message_id"].(string)) != 32 {
		t.Errorf("chunk: %v", m)
	}
	m = decode(t, readFile(t, filepath.Join(vectors, "vectors", "e-dummy-alpha", "00-client-to-alpha.eml")), "alpha")
	if m["type"] != "dummy" {
		t.Errorf("dummy: %v", m)
	}
}

func TestDecodeFailures(t *testing.T) {
	v := filepath.Join(vectors, "vectors")
	good := readFile(t, filepath.Join(v, "a-single-hop-alpha-1024", "00-client-to-alpha.eml"))
	for _, c := range []struct {
		name, key, want string
		input           []byte
		args            []string
	}{
		{"digest", "alpha", "digest", readFile(t, filepath.Join(v, "n-header-digest-mismatch-alpha", "input.eml")), nil},
		{"tagged payload", "delta", "HMAC", readFile(t, filepath.Join(v, "n-body-bitflip-delta-4096", "input.eml")), nil},
		{"unknown key", "bravo", "unknown key", good, nil},
		{"bad armour", "alpha", "armour", bytes.Replace(good, []byte("\n8sF2"), []byte("\n9sF2"), 1), nil},
		{"truncated mail", "alpha", "armour", good[:5000], nil},
		{"wrong length", "alpha", "length", readFile(t, filepath.Join(v, "a-single-hop-alpha-1024", "00-client-to-alpha.packet.bin"))[:20479], nil},
		{"not a packet", "alpha", "not a Mixmaster packet", []byte("From: a@b\n\nhello\n"), nil},
		{"bad passphrase", "alpha", "passphrase", good, []string{"--passphrase-file", filepath.Join(vectors, "keys", "charlie", "passphrase.txt")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"packet", "decode"}, keyArgs(c.key)...), c.args...)
			r := mix(t, c.input, args...)
			if r.code == 0 || r.stdout != "" {
				t.Fatalf("exit %d stdout %q, want failure and no output", r.code, r.stdout)
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q, want one line naming %q", r.stderr, c.want)
			}
		})
	}
}

// TestSendDecode: packets written by 'mix send' are decoded hop by hop by
// 'mix packet decode' with each remailer's real secring.
func TestSendDecode(t *testing.T) {
	pubring := filepath.Join(vectors, "pubring.mix")
	for _, c := range []struct {
		name  string
		chain []string
		body  []byte
	}{
		{"mixed three hops", []string{"alpha", "delta", "bravo"}, []byte("Hello through three remailers.\n")},
		{"empty body", []string{"echo"}, nil},
		{"three chunks", []string{"charlie", "alpha"}, bytes.Repeat([]byte("0123456789abcdef\n"), 1500)},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			r := mix(t, c.body, "send", "--pubring", pubring, "--chain", strings.Join(c.chain, ","),
				"--to", "rcpt@example.test", "--to", "second@example.test", "--subject", "test", "--header", "X-Test: 1", "--out", out)
			if r.code != 0 {
				t.Fatalf("send: %s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("send printed %q without --verbose", r.stdout)
			}
			files, _ := filepath.Glob(filepath.Join(out, "*.eml"))
			var id string
			var chunks [][]byte
			for _, f := range files {
				mail := readFile(t, f)
				if !bytes.HasPrefix(mail, []byte("From: nobody@localhost\nTo: "+c.chain[0]+"@remailer.test\n\n::\nRemailer-Type: Mixmaster 3.0.2d\n")) {
					t.Fatalf("%s does not start as Mixmaster's client mail: %q", f, mail[:80])
				}
				input := mail
				var m map[string]any
				for i, hop := range c.chain {
					next := filepath.Join(t.TempDir(), "next")
					m = decode(t, input, hop, "--next", next)
					if i < len(c.chain)-1 {
						if m["next_hop"] != c.chain[i+1]+"@remailer.test" {
							t.Fatalf("hop %s: %v", hop, m)
						}
						input = readFile(t, next)
					}
				}
				switch m["type"] {
				case "final":
					if m["body"] != string(c.body) || len(files) != 1 {
						t.Errorf("body %q, want %q", m["body"], c.body)
					}
					if h := m["headers"].([]any); len(h) != 2 || h[0] != "Subject: test" || h[1] != "X-Test: 1" {
						t.Errorf("headers %v", h)
					}
				case "chunk":
					if id == "" {
						id = m["message_id"].(string)
					}
					if m["message_id"] != id || int(m["chunks"].(float64)) != len(files) {
						t.Errorf("chunk %v", m)
					}
					chunks = append(chunks, nil)
				default:
					t.Fatalf("type %v", m["type"])
				}
			}
			if len(files) > 1 && len(chunks) != len(files) {
				t.Errorf("%d chunk packets of %d", len(chunks), len(files))
			}
			if _, err := hex.DecodeString(id); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	pubring := filepath.Join(vectors, "pubring.mix")
	for _, c := range []struct {
		chain, want string
	}{
		{"alpha,nosuch", "nosuch"},
		{strings.Repeat("delta,", 10) + "delta", "slots"},
	} {
		r := mix(t, []byte("x"), "send", "--pubring", pubring, "--chain", c.chain, "--to", "a@b.test", "--out", t.TempDir())
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("chain %s: exit %d stderr %q, want error naming %q", c.chain, r.code, r.stderr, c.want)
		}
	}
	// With --pubring and no statistics a random hop is chosen without
	// reliability limits.
	out := t.TempDir()
	r := mix(t, []byte("x"), "send", "--pubring", pubring, "--chain", "alpha,*", "--to", "a@b.test", "--out", out, "--verbose")
	if r.code != 0 || !regexp.MustCompile(`chain alpha,(bravo|charlie|delta|echo), 1 packet`).MatchString(r.stdout) {
		t.Errorf("random hop with --pubring: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}
