package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mixgo/mixgo/internal/doctor/dnstest"
	"github.com/mixgo/mixgo/mix"
)

// runMixd runs one command in-process and returns its exit code and output.
func runMixd(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(args, bytes.NewReader(nil), &out, &out)
	return code, out.String()
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDoctorCommand: a node made by `mixd init`, running, with the DNS
// records the doctor and `mixd dkim-record` ask for, passes every check;
// without the DKIM record the doctor fails and says what to publish.
func TestDoctorCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "exit")
	listen := freePort(t)
	if code, out := runMixd("init", "--dir", dir, "--name", "exit", "--address", "exit@example.test",
		"--key-bits", "1024", "--hostname", "mx.example.test", "--listen", listen,
		"--deliver", "dir:"+filepath.Join(dir, "out")); code != 0 {
		t.Fatalf("init: %s", out)
	}

	code, value := runMixd("dkim-record", "--dir", dir, "--value")
	value = strings.TrimSpace(value)
	if code != 0 || !strings.HasPrefix(value, "v=DKIM1; k=rsa; p=") {
		t.Fatalf("dkim-record --value: %d %q", code, value)
	}
	code, line := runMixd("dkim-record", "--dir", dir)
	if code != 0 || !strings.HasPrefix(line, "mixd._domainkey.example.test. IN TXT ( \"v=DKIM1; k=rsa; p=") {
		t.Fatalf("dkim-record: %d %q", code, line)
	}
	// The printed zone line is what a DNS server loads.
	zone := dnstest.New(t,
		strings.TrimSpace(line),
		"mx.example.test. 300 IN A 127.0.0.1",
		"1.0.0.127.in-addr.arpa. 300 IN PTR mx.example.test.",
		"example.test. 300 IN MX 10 mx.example.test.",
		dnstest.TXT("example.test.", "v=spf1 mx -all"),
		dnstest.TXT("_dmarc.example.test.", "v=DMARC1; p=none"),
	)
	resolver := zone.Serve(t)
	f, err := os.OpenFile(filepath.Join(dir, mix.ConfigFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("public_ip = 127.0.0.1\ndnsbl = bl.test\ndoctor_resolver = " + resolver + "\ndoctor_smtp = " + listen + "\n")
	f.Close()

	n, err := mix.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		n.Close()
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("the node does not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, out := runMixd("doctor", "--dir", dir)
	if code != 0 || !strings.Contains(out, "all 9 checks passed") || strings.Contains(out, "✗") {
		t.Fatalf("doctor on a good setup: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "✓ DKIM") || !strings.Contains(out, "not signed by a public CA") {
		t.Errorf("doctor output:\n%s", out)
	}

	zone.Remove("mixd._domainkey.example.test", dns.TypeTXT)
	code, out = runMixd("doctor", "--dir", dir)
	if code != 1 || !strings.Contains(out, "✗ DKIM") || !strings.Contains(out, "fix: publish the record mixd dkim-record prints") ||
		!strings.Contains(out, "1 of 9 checks failed") {
		t.Fatalf("doctor without the DKIM record: exit %d\n%s", code, out)
	}
}
