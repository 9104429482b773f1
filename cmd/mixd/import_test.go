package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/mix"
	"github.com/mixgo/mixgo/packet"
)

const vectors = "../../testdata/mixmaster"

// oracleDestBlock is the dest.blk the vectors' remailers ran with (see
// mix.TestOracleDestBlock).
const oracleDestBlock = "blocked@example.test\nmajordomo@\n/@blocked-domain\\.test/\n"

// mixd runs one command in-process, as the binary would.
func mixd(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, bytes.NewReader(nil), &out, &errb); code != 0 {
		t.Fatalf("mixd %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// mixmasterInstall lays out the Mixmaster directory the vectors' remailer
// ran from: remailer-mix.cfg as mix.cfg, its secring.mix and key.txt, the
// stock header.blk and the oracle's dest.blk.
func mixmasterInstall(t *testing.T, name string) string {
	t.Helper()
	src := t.TempDir()
	keys := filepath.Join(vectors, "keys", name)
	for from, to := range map[string]string{"remailer-mix.cfg": "mix.cfg", "secring.mix": "secring.mix", "key.txt": "key.txt"} {
		b, err := os.ReadFile(filepath.Join(keys, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(src, "header.blk"), []byte(mix.DefaultHeaderBlock), 0o600)
	os.WriteFile(filepath.Join(src, "dest.blk"), []byte(oracleDestBlock), 0o600)
	return src
}

type vecStep struct {
	Actor   string   `json:"actor"`
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

// expectation is one mail a step emitted: a delivery (text) or a packet
// for the next hop.
type expectation struct {
	vector, file string
	to           string // next hop, for packets
	text         []byte // delivery, or the packet
}

// allowedOnly removes header lines our allowed_headers default drops,
// the one way our deliveries differ from 3.0.2d's on these vectors.
func allowedOnly(mail []byte, allowed string) []byte {
	ok := map[string]bool{}
	for _, h := range strings.Fields(allowed) {
		ok[strings.ToLower(h)] = true
	}
	// Lines the remailer itself writes stay.
	for _, h := range []string{"from", "comments", "message-id", "newsgroups"} {
		ok[h] = true
	}
	head, body, _ := bytes.Cut(mail, []byte("\n\n"))
	var out [][]byte
	keep := true
	for _, l := range bytes.Split(head, []byte("\n")) {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			if keep {
				out = append(out, l)
			}
			continue
		}
		name, _, _ := bytes.Cut(l, []byte(":"))
		keep = ok[strings.ToLower(string(name))]
		if keep {
			out = append(out, l)
		}
	}
	return append(append(bytes.Join(out, []byte("\n")), "\n\n"...), body...)
}

// maskRandom blanks the bytes of a next-hop packet the hop fills with
// fresh random data (testdata README: 9728–10239).
func maskRandom(p []byte) []byte {
	q := bytes.Clone(p)
	for i := 9728; i < 10240 && i < len(q); i++ {
		q[i] = 0
	}
	return q
}

// TestImportMixmasterVectors imports each remailer of the vectors from its
// Mixmaster directory: the key ID is kept, and the packets the real
// program processed with that key come out of `mixd process` and `mixd
// flush` as the vectors recorded (deliveries modulo allowed_headers).
func TestImportMixmasterVectors(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(vectors, "vectors", "*"))
	for _, name := range []string{"alpha", "bravo", "charlie", "delta", "echo"} {
		t.Run(name, func(t *testing.T) {
			src := mixmasterInstall(t, name)
			dst := filepath.Join(t.TempDir(), name)
			report := mixd(t, "import-mixmaster", "--dir", dst, src)
			want, _ := keyring.ParsePubring(importMust(os.ReadFile(filepath.Join(vectors, "keys", name, "key.txt"))))
			got, _ := keyring.ParsePubring(importMust(os.ReadFile(filepath.Join(dst, mix.KeyFile))))
			if len(want) != 1 || len(got) != 1 || got[0].KeyID != want[0].KeyID || got[0].Name != name || got[0].Address != want[0].Address {
				t.Fatalf("key.txt after import: %+v, want %+v", got, want)
			}
			if got[0].Type2Line() != want[0].Type2Line() {
				t.Errorf("type2 line %q, want %q", got[0].Type2Line(), want[0].Type2Line())
			}
			if !strings.Contains(report, fmt.Sprintf("%x", want[0].KeyID[:])) || !strings.Contains(report, "not mapped:") {
				t.Errorf("report:\n%s", report)
			}
			// The vectors are dated November 2026: widen the age check.
			appendConf(t, dst, "replay_expiry = 87600h\n")
			cfg, err := mix.LoadConfig(dst)
			if err != nil {
				t.Fatal(err)
			}
			var inputs []string
			var expect []expectation
			for _, d := range dirs {
				base := filepath.Base(d)
				if !strings.ContainsAny(base[:1], "abcdef") {
					continue // n-, g-, m-, r-: other states or operator files
				}
				var meta struct {
					Steps []vecStep `json:"steps"`
				}
				if err := json.Unmarshal(importMust(os.ReadFile(filepath.Join(d, "meta.json"))), &meta); err != nil {
					t.Fatal(err)
				}
				for _, s := range meta.Steps {
					if s.Actor != name {
						continue
					}
					for _, in := range s.Inputs {
						inputs = append(inputs, filepath.Join(d, in))
					}
					for _, out := range s.Outputs {
						e := expectation{vector: base, file: out}
						data := importMust(os.ReadFile(filepath.Join(d, out)))
						if strings.HasSuffix(out, "-delivered.eml") {
							e.text = allowedOnly(data, cfg.AllowedHeaders)
						} else {
							pk, err := packet.Dearmor(data)
							if err != nil || len(pk) != 1 {
								t.Fatalf("%s/%s: %v", base, out, err)
							}
							e.to = strings.TrimSuffix(out[strings.LastIndex(out, "-to-")+4:], ".eml") + "@remailer.test"
							e.text = maskRandom(pk[0])
						}
						expect = append(expect, e)
					}
				}
			}
			if len(inputs) == 0 {
				t.Fatal("no vector input for this remailer")
			}
			mixd(t, append([]string{"process", "--dir", dst}, inputs...)...)
			mixd(t, "flush", "--dir", dst, "--all")
			outs, _ := filepath.Glob(filepath.Join(strings.TrimPrefix(cfg.Deliver, "dir:"), "*.eml"))
			matched := make([]bool, len(expect))
			for _, o := range outs {
				data := importMust(os.ReadFile(o))
				to := ""
				for bytes.HasPrefix(data, []byte("X-Envelope-")) {
					line, rest, _ := bytes.Cut(data, []byte("\n"))
					if v, ok := bytes.CutPrefix(line, []byte("X-Envelope-To: <")); ok && to == "" {
						to = string(bytes.TrimSuffix(v, []byte(">")))
					}
					data = rest
				}
				found := false
				for i, e := range expect {
					if matched[i] {
						continue
					}
					if e.to == "" && bytes.Equal(data, e.text) {
						matched[i], found = true, true
						break
					}
					if e.to != "" && e.to == to {
						if pk, err := packet.Dearmor(data); err == nil && len(pk) == 1 && bytes.Equal(maskRandom(pk[0]), e.text) {
							matched[i], found = true, true
							break
						}
					}
				}
				if !found {
					t.Errorf("output to %s matches no vector output:\n%.600s", to, data)
				}
			}
			var missing []string
			for i, e := range expect {
				if !matched[i] {
					missing = append(missing, e.vector+"/"+e.file)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("%d inputs, %d outputs; missing: %v", len(inputs), len(outs), missing)
			}
			t.Logf("%s: %d vector inputs, %d outputs as recorded", name, len(inputs), len(outs))
		})
	}
}

// The replay log of the Mixmaster installation comes along: a packet it
// processed is not processed again after the import.
func TestImportReplayLog(t *testing.T) {
	src := mixmasterInstall(t, "alpha")
	id, _ := hex.DecodeString("d85e94ffa09462ea083fb97f15843be5") // a-single-hop-alpha-1024
	now := time.Now().Unix()
	rec := func(id []byte, at int64) []byte {
		b := make([]byte, 24)
		copy(b, id)
		binary.LittleEndian.PutUint64(b[16:], uint64(at))
		return b
	}
	idlog := append(rec(make([]byte, 16), now-7*86400), rec(id, now-3600)...)
	os.WriteFile(filepath.Join(src, "id.log"), idlog, 0o600)
	dst := filepath.Join(t.TempDir(), "alpha")
	if rep := mixd(t, "import-mixmaster", "--dir", dst, src); !strings.Contains(rep, "IDLOG id.log → 1 packet IDs") {
		t.Fatalf("report:\n%s", rep)
	}
	appendConf(t, dst, "replay_expiry = 87600h\n")
	in := filepath.Join(vectors, "vectors/a-single-hop-alpha-1024/00-client-to-alpha.eml")
	mixd(t, "process", "--dir", dst, in)
	mixd(t, "flush", "--dir", dst, "--all")
	if outs, _ := filepath.Glob(filepath.Join(dst, "out", "*.eml")); len(outs) != 0 {
		t.Fatalf("a packet in the imported replay log was delivered")
	}
	if pool := mixd(t, "pool", "--dir", dst); !strings.Contains(pool, "replay") {
		t.Errorf("no replay counted:\n%s", pool)
	}
	// Other packets still go through.
	mixd(t, "process", "--dir", dst, filepath.Join(vectors, "vectors/c-compressed-one-chunk-alpha/00-client-to-alpha.eml"))
	mixd(t, "flush", "--dir", dst, "--all")
	if outs, _ := filepath.Glob(filepath.Join(dst, "out", "*.eml")); len(outs) != 1 {
		t.Fatalf("%d deliveries of a new packet, want 1", len(outs))
	}
}

func TestImportRefusals(t *testing.T) {
	src := mixmasterInstall(t, "alpha")
	var out, errb bytes.Buffer
	// A wrong passphrase file opens no key.
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte("wrong\n"), 0o600)
	if code := run([]string{"import-mixmaster", "--dir", filepath.Join(t.TempDir(), "x"), "--passphrase-file", pf, src}, nil, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "wrong passphrase") {
		t.Errorf("wrong passphrase: exit %d, %s", code, errb.String())
	}
	// The right one from a file (mix.cfg without PASSPHRASE).
	cfg := importMust(os.ReadFile(filepath.Join(src, "mix.cfg")))
	os.WriteFile(filepath.Join(src, "mix.cfg"), bytes.ReplaceAll(cfg, []byte("PASSPHRASE      alphapass"), nil), 0o600)
	os.WriteFile(pf, []byte("alphapass\n"), 0o600)
	dst := filepath.Join(t.TempDir(), "y")
	mixd(t, "import-mixmaster", "--dir", dst, "--passphrase-file", pf, src)
	// Not over an existing node.
	errb.Reset()
	if code := run([]string{"import-mixmaster", "--dir", dst, "--passphrase-file", pf, src}, nil, &out, &errb); code != 1 {
		t.Errorf("import over a node: exit %d", code)
	}
	// A client installation is no remailer.
	os.WriteFile(filepath.Join(src, "mix.cfg"), bytes.ReplaceAll(cfg, []byte("REMAIL          y"), []byte("REMAIL n")), 0o600)
	if code := run([]string{"import-mixmaster", "--dir", filepath.Join(t.TempDir(), "z"), src}, nil, &out, &errb); code != 1 {
		t.Errorf("client installation: exit %d", code)
	}
}

func TestBlockDestinationCommand(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "alpha")
	mixd(t, "import-mixmaster", "--dir", dst, mixmasterInstall(t, "alpha"))
	if out := mixd(t, "block-destination", "--dir", dst, "x@example.test", "@spam.example"); !strings.Contains(out, "blocked x@example.test") {
		t.Fatal(out)
	}
	if out := mixd(t, "block-destination", "--dir", dst, "X@example.test"); !strings.Contains(out, "blocked already") {
		t.Fatal(out)
	}
	if got := string(importMust(os.ReadFile(filepath.Join(dst, mix.DestBlockFile)))); got != oracleDestBlock+"x@example.test\n@spam.example\n" {
		t.Fatalf("dest.blk %q", got)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"block-destination", "--dir", dst, "/.*/"}, nil, &out, &errb); code != 1 {
		t.Errorf("a regex was accepted: exit %d", code)
	}
}

func appendConf(t *testing.T, dir, text string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, mix.ConfigFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func importMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
