package mailout

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

// mxEnv is a DNS server and the port every "mx" connection goes to.
type mxEnv struct {
	z        *zone
	resolver string
	port     int
}

func newMXEnv(t *testing.T, port int) *mxEnv {
	z, addr := newDNS(t)
	return &mxEnv{z: z, resolver: addr, port: port}
}

func (e *mxEnv) send(t *testing.T, opt Options, to ...string) error {
	t.Helper()
	opt.Resolver = e.resolver
	opt.Port = e.port
	return send(t, "mx", opt, "a@example.org", to...)
}

func TestMXPreferenceOrder(t *testing.T) {
	port, ls := listenSamePort(t, "127.0.0.2")
	second := startSink(t, sinkConfig{}, ls[0]) // 127.0.0.1
	first := startSink(t, sinkConfig{}, ls[1])  // 127.0.0.2
	e := newMXEnv(t, port)
	// Listed out of order on purpose.
	e.z.add(t, "example.test. 300 IN MX 20 mx2.example.test.")
	e.z.add(t, "example.test. 300 IN MX 10 mx1.example.test.")
	e.z.add(t, "mx1.example.test. 300 IN A 127.0.0.2")
	e.z.add(t, "mx2.example.test. 300 IN A 127.0.0.1")
	for range 3 {
		if err := e.send(t, Options{}, "b@example.test"); err != nil {
			t.Fatal(err)
		}
	}
	if n, m := len(first.received()), len(second.received()); n != 3 || m != 0 {
		t.Fatalf("preferred MX got %d, other %d", n, m)
	}
	got := first.received()[0]
	if got.from != "a@example.org" || strings.Join(got.to, ",") != "b@example.test" || got.data != testMsgCRLF {
		t.Fatalf("received %+v", got)
	}
}

func TestMXFallbackWhenFirstRefuses(t *testing.T) {
	port := freePortOn(t, "127.0.0.3")
	l := mustListen(t, "127.0.0.1", port)
	k := startSink(t, sinkConfig{}, l)
	e := newMXEnv(t, port)
	e.z.add(t, "example.test. 300 IN MX 10 mx1.example.test.")
	e.z.add(t, "example.test. 300 IN MX 20 mx2.example.test.")
	e.z.add(t, "mx1.example.test. 300 IN A 127.0.0.3") // nothing listens: refused
	e.z.add(t, "mx2.example.test. 300 IN A 127.0.0.1")
	if err := e.send(t, Options{}, "b@example.test"); err != nil {
		t.Fatal(err)
	}
	if len(k.received()) != 1 {
		t.Fatal("second MX got nothing")
	}
}

func TestMXFallbackOnTemporaryReply(t *testing.T) {
	port, ls := listenSamePort(t, "127.0.0.2")
	good := startSink(t, sinkConfig{}, ls[0])
	busy := startSink(t, sinkConfig{rcptErr: func(string) error { return smtpErr(451, "greylisted") }}, ls[1])
	e := newMXEnv(t, port)
	e.z.add(t, "example.test. 300 IN MX 10 mx1.example.test.")
	e.z.add(t, "example.test. 300 IN MX 20 mx2.example.test.")
	e.z.add(t, "mx1.example.test. 300 IN A 127.0.0.2")
	e.z.add(t, "mx2.example.test. 300 IN A 127.0.0.1")
	if err := e.send(t, Options{}, "b@example.test"); err != nil {
		t.Fatal(err)
	}
	if len(good.received()) != 1 || len(busy.received()) != 0 {
		t.Fatal("not delivered by the second MX")
	}
}

func TestMXPermanentReplyStops(t *testing.T) {
	port, ls := listenSamePort(t, "127.0.0.2")
	second := startSink(t, sinkConfig{}, ls[0])
	startSink(t, sinkConfig{rcptErr: func(string) error { return smtpErr(550, "no such user") }}, ls[1])
	e := newMXEnv(t, port)
	e.z.add(t, "example.test. 300 IN MX 10 mx1.example.test.")
	e.z.add(t, "example.test. 300 IN MX 20 mx2.example.test.")
	e.z.add(t, "mx1.example.test. 300 IN A 127.0.0.2")
	e.z.add(t, "mx2.example.test. 300 IN A 127.0.0.1")
	err := e.send(t, Options{}, "b@example.test")
	mustTemporary(t, err, false)
	if len(second.received()) != 0 {
		t.Fatal("a 5xx was retried at the next MX")
	}
}

func TestMXAllHostsFailIsTemporary(t *testing.T) {
	port := freePortOn(t, "127.0.0.2", "127.0.0.3")
	e := newMXEnv(t, port)
	e.z.add(t, "example.test. 300 IN MX 10 mx1.example.test.")
	e.z.add(t, "example.test. 300 IN MX 10 mx2.example.test.")
	e.z.add(t, "mx1.example.test. 300 IN A 127.0.0.2")
	e.z.add(t, "mx2.example.test. 300 IN A 127.0.0.3")
	err := e.send(t, Options{}, "b@example.test")
	mustTemporary(t, err, true)
}

func TestMXEqualPreferenceRandom(t *testing.T) {
	port, ls := listenSamePort(t, "127.0.0.2")
	a := startSink(t, sinkConfig{}, ls[0])
	b := startSink(t, sinkConfig{}, ls[1])
	e := newMXEnv(t, port)
	e.z.add(t, "example.test. 300 IN MX 10 mx1.example.test.")
	e.z.add(t, "example.test. 300 IN MX 10 mx2.example.test.")
	e.z.add(t, "mx1.example.test. 300 IN A 127.0.0.1")
	e.z.add(t, "mx2.example.test. 300 IN A 127.0.0.2")
	const n = 24 // both hosts chosen with probability 1 - 2^-23
	for range n {
		if err := e.send(t, Options{}, "b@example.test"); err != nil {
			t.Fatal(err)
		}
	}
	na, nb := len(a.received()), len(b.received())
	if na+nb != n || na == 0 || nb == 0 {
		t.Fatalf("deliveries %d / %d", na, nb)
	}
}

func TestMXImplicitA(t *testing.T) {
	k := newSink(t, sinkConfig{})
	e := newMXEnv(t, k.port)
	e.z.add(t, "amx.test. 300 IN A 127.0.0.1") // no MX
	if err := e.send(t, Options{}, "b@amx.test"); err != nil {
		t.Fatal(err)
	}
	if len(k.received()) != 1 {
		t.Fatal("not delivered to the implicit MX")
	}
}

func TestMXCNAME(t *testing.T) {
	k := newSink(t, sinkConfig{})
	e := newMXEnv(t, k.port)
	e.z.add(t, "example.test. 300 IN MX 10 mail.example.test.")
	e.z.add(t, "mail.example.test. 300 IN CNAME real.example.test.")
	e.z.add(t, "real.example.test. 300 IN A 127.0.0.1")
	if err := e.send(t, Options{}, "b@example.test"); err != nil {
		t.Fatal(err)
	}
	if len(k.received()) != 1 {
		t.Fatal("not delivered through the CNAME")
	}
}

func TestMXDNSFailures(t *testing.T) {
	k := newSink(t, sinkConfig{})
	e := newMXEnv(t, k.port)
	e.z.add(t, "txtonly.test. 300 IN TXT \"no mail here\"")
	e.z.add(t, "nullmx.test. 300 IN MX 0 .")
	e.z.add(t, "nullmx.test. 300 IN A 127.0.0.1")
	e.z.add(t, "badmx.test. 300 IN MX 10 missing.badmx.test.")
	e.z.add(t, "badmx.test. 300 IN A 127.0.0.1")
	e.z.add(t, "broken.test. 300 IN A 127.0.0.1")
	e.z.fail("broken.test.")
	cases := []struct {
		rcpt string
		temp bool
	}{
		{"b@nx.test", false},       // NXDOMAIN
		{"b@txtonly.test", false},  // no MX, no A
		{"b@nullmx.test", false},   // RFC 7505
		{"b@badmx.test", false},    // MX host does not exist
		{"b@broken.test", true},    // SERVFAIL
		{"b@[127.0.0.1]", false},   // address literal
		{"b@example..test", false}, // syntax
	}
	for _, c := range cases {
		err := e.send(t, Options{}, c.rcpt)
		mustTemporary(t, err, c.temp)
		if s := err.Error(); strings.Contains(s, "test") || strings.Contains(s, "127.") {
			t.Fatalf("%s: error text leaks data: %q", c.rcpt, s)
		}
	}
	if len(k.received()) != 0 {
		t.Fatal("something was delivered")
	}
}

func TestMXDNSTimeoutIsTemporary(t *testing.T) {
	e := &mxEnv{resolver: silentUDPAddr(t), port: 25}
	err := e.send(t, Options{Timeout: 200e6}, "b@example.test")
	mustTemporary(t, err, true)
	var de *Error
	if !errors.As(err, &de) || de.Op != "dns" {
		t.Fatalf("err %v", err)
	}
}

func TestMXTwoDomains(t *testing.T) {
	k := newSink(t, sinkConfig{})
	e := newMXEnv(t, k.port)
	e.z.add(t, "example.test. 300 IN MX 10 mx1.example.test.")
	e.z.add(t, "mx1.example.test. 300 IN A 127.0.0.1")
	e.z.add(t, "other.test. 300 IN MX 10 mx1.example.test.")

	// Two domains: two transactions.
	if err := e.send(t, Options{}, "b@example.test", "c@other.test", "d@EXAMPLE.test"); err != nil {
		t.Fatal(err)
	}
	got := k.received()
	if len(got) != 2 || strings.Join(got[0].to, ",") != "b@example.test,d@EXAMPLE.test" || strings.Join(got[1].to, ",") != "c@other.test" {
		t.Fatalf("received %+v", got)
	}

	// One domain fails: per-recipient result.
	err := e.send(t, Options{}, "b@example.test", "c@nx.test")
	var re *RecipientsError
	if !errors.As(err, &re) {
		t.Fatalf("err %v, want *RecipientsError", err)
	}
	if strings.Join(re.Delivered, ",") != "b@example.test" || len(re.Failed) != 1 || IsTemporary(re.Failed["c@nx.test"]) {
		t.Fatalf("delivered %v failed %v", re.Delivered, re.Failed)
	}
	mustTemporary(t, err, false)
	if len(re.Temporary()) != 0 {
		t.Fatal("nothing to retry expected")
	}
}

func TestMXRequireVerifiedTLS(t *testing.T) {
	c := newTestCert(t)
	setup := func(t *testing.T, cfg sinkConfig) (*sink, *mxEnv) {
		k := newSink(t, cfg)
		e := newMXEnv(t, k.port)
		e.z.add(t, "example.test. 300 IN MX 10 mx1.example.test.")
		e.z.add(t, "mx1.example.test. 300 IN A 127.0.0.1")
		e.z.add(t, "other.test. 300 IN MX 10 localhost.other.test.")
		e.z.add(t, "localhost.other.test. 300 IN A 127.0.0.1")
		return k, e
	}
	opt := Options{RequireVerifiedTLS: []string{"Example.Test"}, TLSConfig: &tls.Config{RootCAs: c.pool}}
	t.Run("verified", func(t *testing.T) {
		k, e := setup(t, sinkConfig{tls: true})
		if err := e.send(t, opt, "b@example.test"); err != nil {
			t.Fatal(err)
		}
		if got := k.received(); len(got) != 1 || !got[0].tls {
			t.Fatalf("received %+v", got)
		}
	})
	t.Run("name mismatch", func(t *testing.T) {
		// The certificate does not name localhost.other.test.
		k, e := setup(t, sinkConfig{tls: true})
		o := opt
		o.RequireVerifiedTLS = []string{"other.test"}
		err := e.send(t, o, "b@other.test")
		mustTemporary(t, err, true)
		if len(k.received()) != 0 {
			t.Fatal("delivered over an unverified connection")
		}
		// Not listed: opportunistic, delivered over TLS without verifying.
		if err := e.send(t, opt, "b@other.test"); err != nil {
			t.Fatal(err)
		}
		if got := k.received(); len(got) != 1 || !got[0].tls {
			t.Fatalf("received %+v", got)
		}
	})
	t.Run("not offered", func(t *testing.T) {
		k, e := setup(t, sinkConfig{})
		err := e.send(t, opt, "b@example.test")
		mustTemporary(t, err, true)
		if len(k.received()) != 0 {
			t.Fatal("delivered in clear")
		}
	})
}

func TestSysResolverLocalhost(t *testing.T) {
	r := &sysResolver{timeout: testTimeout}
	addrs, e := r.addrs(context.Background(), "localhost")
	if e != nil {
		t.Skipf("no localhost in the system resolver: %v", e)
	}
	if len(addrs) == 0 || !addrs[0].IsLoopback() {
		t.Fatalf("localhost = %v", addrs)
	}
}
