// Package e2e holds end-to-end tests: real mix and mixd processes on
// 127.0.0.1, a real SMTP hub standing for the outside world, real bbolt
// files.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mixgo/mixgo/internal/hub"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mixgo-e2e-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/mix", "../../cmd/mixd")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// node is one mixd in a test network.
type node struct {
	name, addr, listen, dir string
	cmd                     *exec.Cmd
	log                     *bytes.Buffer
	mu                      sync.Mutex
}

// network is a hub and some nodes that know each other's keys.
type network struct {
	t     *testing.T
	hub   *hub.Hub
	hubAt string
	nodes map[string]*node
	root  string
}

// newNetwork creates nodes named names; middlemen lists those that are
// middlemen. conf lines are appended to every node's mixd.conf.
func newNetwork(t *testing.T, names []string, middlemen map[string]bool, conf ...string) *network {
	t.Helper()
	root := t.TempDir()
	h, err := hub.New(filepath.Join(root, "outside"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.Serve(l)
	t.Cleanup(func() { h.Close() })
	nw := &network{t: t, hub: h, hubAt: l.Addr().String(), nodes: map[string]*node{}, root: root}
	var pubring []byte
	for _, name := range names {
		n := &node{name: name, addr: name + "@remailer.test", listen: freePort(t), dir: filepath.Join(root, name)}
		args := []string{"init", "--dir", n.dir, "--name", name, "--address", n.addr, "--key-bits", "1024",
			"--listen", n.listen, "--deliver", "smtp://" + nw.hubAt}
		if middlemen[name] {
			args = append(args, "--middleman")
		}
		run(t, nil, bin("mixd"), args...)
		base := []string{"pool_strategy = timed-dynamic", "pool_size = 0", "pool_rate = 100", "pool_interval = 1s", "in_dummy_percent = 0",
			"out_dummy_percent = 0", "log_level = debug", "retry_base = 1s", "hostname = " + name + ".localhost"}
		appendFile(t, filepath.Join(n.dir, "mixd.conf"), strings.Join(append(base, conf...), "\n")+"\n")
		key, err := os.ReadFile(filepath.Join(n.dir, "key.txt"))
		if err != nil {
			t.Fatal(err)
		}
		pubring = append(pubring, key...)
		h.Route(n.addr, n.listen)
		nw.nodes[name] = n
	}
	for _, n := range nw.nodes {
		if err := os.WriteFile(filepath.Join(n.dir, "pubring.mix"), pubring, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "pubring.mix"), pubring, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range nw.nodes {
			n.stop(t)
		}
		if t.Failed() {
			for _, n := range nw.nodes {
				t.Logf("log of %s:\n%s", n.name, n.logText())
			}
		}
	})
	return nw
}

func (n *node) logText() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.log == nil {
		return ""
	}
	return n.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// start runs `mixd run` and waits until its SMTP listener answers.
func (n *node) start(t *testing.T) {
	t.Helper()
	n.mu.Lock()
	if n.log == nil {
		n.log = &bytes.Buffer{}
	}
	n.mu.Unlock()
	n.cmd = exec.Command(bin("mixd"), "run", "--dir", n.dir)
	n.cmd.Stdout = lockedWriter{&n.mu, n.log}
	n.cmd.Stderr = lockedWriter{&n.mu, n.log}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", n.listen, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not start listening:\n%s", n.name, n.logText())
}

// stop ends the daemon with SIGTERM (kill for SIGKILL tests).
func (n *node) stop(t *testing.T) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
}

func (nw *network) startAll() {
	for _, n := range nw.nodes {
		n.start(nw.t)
	}
}

func run(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// send builds a message with `mix send` and submits every packet e-mail to
// the hub, which routes it to the first hop.
func (nw *network) send(chain []string, body []byte, extra ...string) int {
	t := nw.t
	t.Helper()
	out := t.TempDir()
	args := append([]string{"send", "--pubring", filepath.Join(nw.root, "pubring.mix"), "--chain", strings.Join(chain, ","),
		"--out", out}, extra...)
	run(t, body, bin("mix"), args...)
	files, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		nw.submit(nw.nodes[chain[0]].addr, data)
	}
	return len(files)
}

// submit hands one mail to the hub over SMTP.
func (nw *network) submit(rcpt string, data []byte) {
	nw.t.Helper()
	if err := hub.Send(nw.hubAt, "client@example.test", []string{rcpt}, data); err != nil {
		nw.t.Fatalf("submitting to %s: %v", rcpt, err)
	}
}

// waitDeliveries waits until n outside deliveries arrived.
func (nw *network) waitDeliveries(n int, timeout time.Duration) []hub.Delivery {
	nw.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if d := nw.hub.Delivered(); len(d) >= n {
			return d
		}
		time.Sleep(100 * time.Millisecond)
	}
	d := nw.hub.Delivered()
	nw.t.Fatalf("%d deliveries after %v, want %d", len(d), timeout, n)
	return nil
}

func headerOf(mail []byte, name string) string {
	head, _, _ := bytes.Cut(mail, []byte("\n\n"))
	for _, l := range strings.Split(string(head), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func bodyOf(mail []byte) string {
	_, body, _ := bytes.Cut(mail, []byte("\n\n"))
	return string(body)
}

func TestThreeHopsChunksAndMiddleman(t *testing.T) {
	nw := newNetwork(t, []string{"alpha", "bravo", "charlie", "mid"}, map[string]bool{"mid": true})
	nw.startAll()

	body := []byte("Three remailers carried this.\n")
	nw.send([]string{"alpha", "bravo", "charlie"}, body, "--to", "rcpt@example.test", "--subject", "three hops", "--header", "X-Secret-Client: leak")
	d := nw.waitDeliveries(1, 30*time.Second)[0]
	if d.To != "rcpt@example.test" || bodyOf(d.Data) != string(body) {
		t.Fatalf("delivery to %s body %q", d.To, bodyOf(d.Data))
	}
	if headerOf(d.Data, "Subject") != "three hops" {
		t.Errorf("Subject lost: %q", d.Data)
	}
	if headerOf(d.Data, "X-Secret-Client") != "" || !strings.Contains(headerOf(d.Data, "From"), "charlie@remailer.test") {
		t.Errorf("final-hop header rules not applied:\n%s", d.Data)
	}

	// Three chunks, reassembled by the exit.
	// Random text: compression (the exit has C) must not make it fit in
	// fewer chunks. 29000 random bytes in base64 deflate to about 29.3 KB.
	raw := make([]byte, 29000)
	rand.Read(raw)
	var big []byte
	for enc := base64.StdEncoding.EncodeToString(raw); len(enc) > 0; {
		n := min(76, len(enc))
		big = append(big, enc[:n]+"\n"...)
		enc = enc[n:]
	}
	if n := nw.send([]string{"bravo", "alpha"}, big, "--to", "big@example.test"); n != 3 {
		t.Fatalf("%d packets for a 39 KB message, want 3", n)
	}
	d = nw.waitDeliveries(2, 30*time.Second)[1]
	if d.To != "big@example.test" || bodyOf(d.Data) != string(big) {
		t.Fatalf("reassembled message differs (%d bytes, want %d)", len(bodyOf(d.Data)), len(big))
	}

	// A middleman exit re-routes through a remailer that delivers.
	nw.send([]string{"alpha", "mid"}, []byte("via a middleman\n"), "--to", "mm@example.test")
	d = nw.waitDeliveries(3, 30*time.Second)[2]
	if d.To != "mm@example.test" || bodyOf(d.Data) != "via a middleman\n" {
		t.Fatalf("middleman delivery %s %q", d.To, bodyOf(d.Data))
	}
	if strings.Contains(headerOf(d.Data, "From"), "mid@") {
		t.Errorf("the middleman delivered itself: %s", headerOf(d.Data, "From"))
	}
}

func TestReplayAcrossRestart(t *testing.T) {
	nw := newNetwork(t, []string{"alpha", "bravo"}, nil)
	nw.startAll()
	out := t.TempDir()
	run(t, []byte("once only\n"), bin("mix"), "send", "--pubring", filepath.Join(nw.root, "pubring.mix"),
		"--chain", "alpha,bravo", "--to", "once@example.test", "--out", out)
	pkt, err := os.ReadFile(filepath.Join(out, "01.eml"))
	if err != nil {
		t.Fatal(err)
	}
	nw.submit("alpha@remailer.test", pkt)
	nw.submit("alpha@remailer.test", pkt)
	nw.waitDeliveries(1, 30*time.Second)
	alpha := nw.nodes["alpha"]
	alpha.stop(t)
	alpha.start(t)
	nw.submit("alpha@remailer.test", pkt)
	time.Sleep(4 * time.Second)
	if d := nw.hub.Delivered(); len(d) != 1 {
		t.Fatalf("%d deliveries of one packet sent three times, want 1", len(d))
	}
	pool := run(t, nil, bin("mixd"), "pool", "--dir", alpha.dir)
	if !strings.Contains(pool, "replay") {
		t.Errorf("no replay counted:\n%s", pool)
	}
}

// rawOversized speaks SMTP by hand and sends size bytes of data; it
// returns the server's reply to the end of data.
func rawOversized(t *testing.T, addr, rcpt string, size int) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	expect := func(code string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %s: %v", code, err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("got %q, want %s", line, code)
			}
			if len(line) > 3 && line[3] == ' ' {
				return
			}
		}
	}
	expect("220")
	fmt.Fprintf(c, "EHLO test.localhost\r\n")
	expect("250")
	fmt.Fprintf(c, "MAIL FROM:<x@example.test>\r\n")
	expect("250")
	fmt.Fprintf(c, "RCPT TO:<%s>\r\n", rcpt)
	expect("250")
	fmt.Fprintf(c, "DATA\r\n")
	expect("354")
	line := strings.Repeat("x", 76) + "\r\n"
	// The server may stop reading once over the limit: write what it
	// takes, then read its verdict.
	for sent := 0; sent < size; sent += len(line) {
		if _, err := io.WriteString(c, line); err != nil {
			break
		}
	}
	io.WriteString(c, ".\r\n")
	reply, _ := r.ReadString('\n')
	return reply
}

func TestSMTPRefusals(t *testing.T) {
	nw := newNetwork(t, []string{"alpha"}, nil, "max_message_size = 65536")
	nw.startAll()
	a := nw.nodes["alpha"]
	c, err := smtp.Dial(a.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("test.localhost"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("x@example.test", nil); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("victim@elsewhere.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 {
		t.Errorf("RCPT to a foreign domain: %v, want 550", err)
	}
	c.Reset()
	// A client announcing the size is refused at MAIL FROM.
	err = c.Mail("x@example.test", &smtp.MailOptions{Size: 70000})
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 552 {
		t.Errorf("MAIL FROM SIZE=70000: %v, want 552", err)
	}
	// One that does not is refused after DATA.
	if reply := rawOversized(t, a.listen, a.addr, 70000); !strings.HasPrefix(reply, "552") {
		t.Errorf("oversized DATA: reply %q, want 552", reply)
	}
	// Malformed armour, wrong digest and an unknown key are accepted by
	// SMTP (they are stored first) and then dropped with a counter.
	good := []byte(fmt.Sprintf("From: x@example.test\nTo: %s\n\n::\nRemailer-Type: Mixmaster 3.0.2d\n\n-----BEGIN REMAILER MESSAGE-----\n20480\nAAAA\n-----END REMAILER MESSAGE-----\n", a.addr))
	if err := hub.Send(a.listen, "x@example.test", []string{a.addr}, good); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(a.logText(), "bad-armour") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("malformed armour not counted:\n%s", a.logText())
}
