package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mixgo/mixgo/internal/hub"
	"github.com/mixgo/mixgo/mix"
)

// demoNode is one remailer of the demo network.
type demoNode struct {
	name, listen, dir string
	middleman         bool
	cmd               *exec.Cmd
}

// cmdDemo brings up a whole local network: four remailers (one a
// middleman), an SMTP hub standing for the outside world, and sends a few
// messages through random chains. Everything lives in --dir; Ctrl-C stops
// every process it started.
func cmdDemo(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mixd demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "demo", "scratch `directory` (emptied first)")
	messages := fs.Int("messages", 3, "messages to send")
	exitAfter := fs.Bool("exit-after-delivery", false, "stop once every message arrived (for tests), instead of waiting for Ctrl-C")
	timeout := fs.Duration("timeout", 3*time.Minute, "with --exit-after-delivery: give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(abs); err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	self, err := os.Executable()
	if err != nil {
		return err
	}
	mixBin := filepath.Join(filepath.Dir(self), "mix")
	if _, err := os.Stat(mixBin); err != nil {
		return fmt.Errorf("the client binary %s is missing: run 'make build'", mixBin)
	}

	// The outside world: one SMTP hub on loopback.
	h, err := hub.New(filepath.Join(abs, "outside", "Maildir"))
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go h.Serve(hl)
	defer h.Close()
	hubAddr := hl.Addr().String()
	say("outside world (SMTP hub) on %s; delivered mail is filed in %s", hubAddr, h.Maildir)

	nodes := []*demoNode{{name: "alpha"}, {name: "bravo"}, {name: "charlie"}, {name: "delta", middleman: true}}
	var pubring []byte
	for _, n := range nodes {
		n.dir = filepath.Join(abs, n.name)
		if n.listen, err = freeAddr(); err != nil {
			return err
		}
		addr := n.name + "@remailer.test"
		if _, err := mix.Init(n.dir, mix.InitOptions{Name: n.name, Address: addr, KeyBits: 1024,
			Middleman: n.middleman, Listen: n.listen, Deliver: "smtp://" + hubAddr}); err != nil {
			return fmt.Errorf("creating %s: %w", n.name, err)
		}
		// Demo settings: short pool rounds so that mail moves within
		// seconds; a real node runs the defaults (docs/CONFIG.md).
		extra := "\n# demo settings\npool_strategy = timed-dynamic\npool_size = 0\npool_rate = 100\npool_interval = 2s\nin_dummy_percent = 10\nout_dummy_percent = 20\nretry_base = 2s\nhostname = " + n.name + ".localhost\n"
		if err := appendTo(filepath.Join(n.dir, mix.ConfigFile), extra); err != nil {
			return err
		}
		key, err := os.ReadFile(filepath.Join(n.dir, mix.KeyFile))
		if err != nil {
			return err
		}
		pubring = append(pubring, key...)
		h.Route(addr, n.listen)
		role := "remailer"
		if n.middleman {
			role = "middleman"
		}
		say("created %-8s %-9s %s, SMTP %s", n.name, role, addr, n.listen)
	}
	client := filepath.Join(abs, "client")
	if err := os.MkdirAll(client, 0o700); err != nil {
		return err
	}
	for _, d := range append([]string{client}, nodeDirs(nodes[:4])...) {
		if err := os.WriteFile(filepath.Join(d, mix.PubringFile), pubring, 0o600); err != nil {
			return err
		}
	}

	// The pinger: finds the remailers through their remailer-key and
	// remailer-conf answers, pings them and publishes the statistics.
	pinger := &demoNode{name: "pinger", dir: filepath.Join(abs, "pinger")}
	if pinger.listen, err = freeAddr(); err != nil {
		return err
	}
	httpAt, err := freeAddr()
	if err != nil {
		return err
	}
	// The finger client always dials port 79: use it when we may (root),
	// else any free port.
	fingerAt := "127.0.0.1:79"
	if l, err := net.Listen("tcp", fingerAt); err == nil {
		l.Close()
	} else if fingerAt, err = freeAddr(); err != nil {
		return err
	}
	var remailers []string
	for _, n := range nodes {
		remailers = append(remailers, n.name+"@remailer.test")
	}
	pingerCfg := mix.DefaultConfig()
	pingerCfg.Name, pingerCfg.Address = "pinger", "pinger@pinger.test"
	pingerCfg.Remailer, pingerCfg.Pinger = false, true
	pingerCfg.PingerListen, pingerCfg.Deliver, pingerCfg.Hostname = pinger.listen, "smtp://"+hubAddr, "pinger.localhost"
	pingerCfg.PingerHTTP, pingerCfg.PingerFinger = httpAt, fingerAt
	pingerCfg.PingerRemailers = strings.Join(remailers, " ")
	if err := os.MkdirAll(pinger.dir, 0o700); err != nil {
		return err
	}
	// Demo schedules: a ping round every 10 s instead of every 2 hours.
	pingerText := append(pingerCfg.Text(), "\n# demo settings\npinger_ping_schedule = @every 10s\npinger_chain_schedule = @every 30s\npinger_discovery_schedule = @every 20s\npinger_skew_abs = 0s\n"...)
	if err := os.WriteFile(filepath.Join(pinger.dir, mix.ConfigFile), pingerText, 0o600); err != nil {
		return err
	}
	h.Route(pingerCfg.Address, pinger.listen)
	nodes = append(nodes, pinger)

	for _, n := range nodes {
		n.cmd = exec.Command(self, "run", "--dir", n.dir)
		logf, err := os.Create(filepath.Join(n.dir, "mixd.log"))
		if err != nil {
			return err
		}
		defer logf.Close()
		n.cmd.Stdout, n.cmd.Stderr = logf, logf
		// Its own process group: the terminal's Ctrl-C reaches the demo,
		// which then stops each node cleanly.
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := n.cmd.Start(); err != nil {
			return err
		}
	}
	defer stopNodes(nodes, say)
	for _, n := range nodes {
		if err := waitListening(ctx, n.listen, 15*time.Second); err != nil {
			return fmt.Errorf("%s did not start (see %s): %w", n.name, filepath.Join(n.dir, "mixd.log"), err)
		}
	}
	say("4 remailers and a pinger running (logs: %s/<name>/mixd.log)", abs)
	say("pinger statistics: http://%s/   (mlist2.txt, type2.list, pubring.mix, stats.json, metrics)", httpAt)
	if fhost, fport, _ := net.SplitHostPort(fingerAt); fport == "79" {
		say("finger them:       finger @%s   (finger help@%s lists what else can be asked)", fhost, fhost)
	} else {
		say("finger them:       echo | nc %s %s   (port 79 needs root; finger help: echo help | nc %s %s)", fhost, fport, fhost, fport)
	}
	say("first ping results appear after about 20 s; the client can fetch them with: bin/mix update --dir %s --from http://%s/", client, httpAt)

	// Messages through random three-hop chains, chosen and built by the
	// client and handed to the outside world's SMTP server.
	start := time.Now()
	for i := 1; i <= *messages; i++ {
		body := fmt.Sprintf("Hello from the mixgo demo, message %d of %d.\n", i, *messages)
		cmd := exec.Command(mixBin, "send", "--pubring", filepath.Join(client, mix.PubringFile), "--hops", "3",
			"--to", fmt.Sprintf("recipient%d@example.org", i), "--subject", fmt.Sprintf("demo %d", i),
			"--smtp", hubAddr, "--starttls", "off", "--from", "client@example.org", "--verbose")
		cmd.Stdin = strings.NewReader(body)
		outb, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("mix send: %v: %s", err, outb)
		}
		say("sent message %d: %s", i, strings.TrimSpace(strings.ReplaceAll(string(outb), "\n", "; ")))
	}

	say("waiting for the pool rounds (every 2 s in the demo; 15 min by default)...")
	got := 0
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	deadline := time.After(*timeout)
	for {
		select {
		case d := <-h.Deliveries():
			got++
			say("message delivered to %s after %s — read it: cat %s", d.To, time.Since(start).Round(time.Second), d.Path)
			if got == *messages {
				say("all %d messages delivered.", got)
				if *exitAfter {
					return nil
				}
				say("the network keeps running (dummy traffic flows); Ctrl-C stops it.")
			}
		case <-tick.C:
			if got < *messages {
				say("  ... %d of %d delivered after %s", got, *messages, time.Since(start).Round(time.Second))
			}
		case <-deadline:
			if *exitAfter {
				return fmt.Errorf("%d of %d messages delivered after %v", got, *messages, *timeout)
			}
		case <-ctx.Done():
			say("stopping...")
			return nil
		}
	}
}

func nodeDirs(nodes []*demoNode) []string {
	var d []string
	for _, n := range nodes {
		d = append(d, n.dir)
	}
	return d
}

// stopNodes ends every node with SIGTERM and waits, so none is left behind.
func stopNodes(nodes []*demoNode, say func(string, ...any)) {
	for _, n := range nodes {
		if n.cmd != nil && n.cmd.Process != nil {
			n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, n := range nodes {
		if n.cmd == nil || n.cmd.Process == nil {
			continue
		}
		done := make(chan error, 1)
		go func() { done <- n.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-done
		}
	}
	say("all remailers and the pinger stopped.")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("timed out")
}

func appendTo(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
