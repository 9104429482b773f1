package doctor

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mixgo/mixgo/internal/doctor/dnstest"
)

// Examples of RFC 7208 §7.4.
func TestExpandMacrosRFCExamples(t *testing.T) {
	env4 := &macroEnv{sender: "strong-bad@email.example.com", domain: "email.example.com", ip: netip.MustParseAddr("192.0.2.3")}
	env6 := &macroEnv{sender: "strong-bad@email.example.com", domain: "email.example.com", ip: netip.MustParseAddr("2001:db8::cb01")}
	cases := []struct {
		env       *macroEnv
		in, want  string
		wantError bool
	}{
		{env4, "%{s}", "strong-bad@email.example.com", false},
		{env4, "%{o}", "email.example.com", false},
		{env4, "%{d}", "email.example.com", false},
		{env4, "%{d4}", "email.example.com", false},
		{env4, "%{d3}", "email.example.com", false},
		{env4, "%{d2}", "example.com", false},
		{env4, "%{d1}", "com", false},
		{env4, "%{dr}", "com.example.email", false},
		{env4, "%{d2r}", "example.email", false},
		{env4, "%{l}", "strong-bad", false},
		{env4, "%{l-}", "strong.bad", false},
		{env4, "%{lr}", "strong-bad", false},
		{env4, "%{lr-}", "bad.strong", false},
		{env4, "%{l1r-}", "strong", false},
		{env4, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", false},
		{env4, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", false},
		{env4, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", false},
		{env4, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com", false},
		{env4, "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net", false},
		{env6, "%{ir}.%{v}._spf.%{d2}", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com", false},
		{env4, "%%%_%-", "% %20", false},
		{env4, "%{S}", "strong-bad%40email.example.com", false},
		{env4, "%{x}", "", true},
		{env4, "%{d0}", "", true},
		{env4, "%{d", "", true},
		{env4, "%z", "", true},
		{env4, "abc%", "", true},
		{env4, "%{d2r!}", "", true},
		{env4, "a b", "", true},
	}
	for _, c := range cases {
		got, err := expandMacros(c.in, c.env)
		if (err != nil) != c.wantError || got != c.want {
			t.Errorf("expand %q = %q, %v; want %q (error %v)", c.in, got, err, c.want, c.wantError)
		}
	}
}

func TestParseSPF(t *testing.T) {
	good := []string{
		"v=spf1",
		"v=spf1 -all",
		"v=spf1 a mx -all",
		"V=SPF1 A:mail.example.org/24//64 MX/28 ~ALL",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip4:192.0.2.1 ?all",
		"v=spf1 include:_spf.google.com exists:%{ir}.%{l1r+-}._spf.%{d} redirect=_spf.example.org",
		"v=spf1 ptr ptr:example.org exp=explain.%{d} foo=bar -all",
		"v=spf1  a   -all ",
	}
	for _, s := range good {
		if _, err := parseSPF(s); err != nil {
			t.Errorf("parseSPF(%q): %v", s, err)
		}
	}
	bad := []string{
		"v=spf10 -all",
		"spf1 -all",
		"v=spf1 all:x",
		"v=spf1 include",
		"v=spf1 include:",
		"v=spf1 ip4:2001:db8::1",
		"v=spf1 ip6:192.0.2.1",
		"v=spf1 ip4:192.0.2.1/33",
		"v=spf1 ip4:192.0.2.1/024",
		"v=spf1 a/33",
		"v=spf1 mx//129",
		"v=spf1 frob -all",
		"v=spf1 redirect=a.example redirect=b.example",
		"v=spf1 redirect=",
		"v=spf1 exists:%{q}.example",
		"v=spf1 9mod=x",
		"v=spf1 +",
	}
	for _, s := range bad {
		if _, err := parseSPF(s); err == nil {
			t.Errorf("parseSPF(%q) accepted", s)
		}
	}
	r, err := parseSPF("v=spf1 -a:mail.example.org/24//64 ip6:2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	if a := r.terms[0]; a.qual != '-' || a.mech != "a" || a.domain != "mail.example.org" || a.cidr4 != 24 || a.cidr6 != 64 {
		t.Errorf("a term parsed as %+v", a)
	}
	if p := r.terms[1].prefix; p != netip.MustParsePrefix("2001:db8::1/128") {
		t.Errorf("ip6 term parsed as %v", p)
	}
}

// TestSPFEvaluate runs check_host against a real DNS server.
func TestSPFEvaluate(t *testing.T) {
	z := dnstest.New(t,
		"mail.example.test. 300 IN A 192.0.2.10",
		"mail.example.test. 300 IN AAAA 2001:db8::10",
		"example.test. 300 IN MX 10 mail.example.test.",
		"10.2.0.192.in-addr.arpa. 300 IN PTR mail.example.test.",
		"3.2.0.192.in-addr.arpa. 300 IN PTR liar.example.test.",
		"liar.example.test. 300 IN A 192.0.2.200",
		"10.2.0.192.allow.example.test. 300 IN A 127.0.0.2",
		dnstest.TXT("a.test.", "v=spf1 a:mail.example.test -all"),
		dnstest.TXT("a24.test.", "v=spf1 a:mail.example.test/24 -all"),
		dnstest.TXT("mx.test.", "v=spf1 mx:example.test ~all"),
		dnstest.TXT("ptr.test.", "v=spf1 ptr:example.test -all"),
		dnstest.TXT("exists.test.", "v=spf1 exists:%{ir}.allow.example.test -all"),
		dnstest.TXT("redir.test.", "v=spf1 redirect=a.test"),
		dnstest.TXT("redirnone.test.", "v=spf1 redirect=nothing.test"),
		"nothing.test. 300 IN A 192.0.2.1",
		dnstest.TXT("neutral.test.", "v=spf1 ?all"),
		dnstest.TXT("empty.test.", "v=spf1"),
		dnstest.TXT("ip6.test.", "v=spf1 ip6:2001:db8::/64 -all"),
		dnstest.TXT("voids.test.", "v=spf1 a:n1.test a:n2.test a:n3.test -all"),
		dnstest.TXT("incfail.test.", "v=spf1 include:a.test ~all"),
		dnstest.TXT("many.test.", "v=spf1 a:x1.test a:x2.test include:many2.test"),
		"x1.test. 300 IN A 192.0.2.1",
		"x2.test. 300 IN A 192.0.2.1",
		dnstest.TXT("many2.test.", "v=spf1 a:x1.test a:x1.test a:x1.test a:x1.test a:x1.test a:x1.test a:x1.test a:x1.test"),
	)
	addr := z.Serve(t)
	cases := []struct {
		domain, ip, want string
	}{
		{"a.test", "192.0.2.10", spfPass},
		{"a.test", "192.0.2.11", spfFail},
		{"a.test", "2001:db8::10", spfPass},
		{"a24.test", "192.0.2.77", spfPass},
		{"a24.test", "192.0.3.1", spfFail},
		{"mx.test", "192.0.2.10", spfPass},
		{"mx.test", "192.0.2.11", spfSoftFail},
		{"ptr.test", "192.0.2.10", spfPass},
		{"ptr.test", "192.0.2.3", spfFail}, // the PTR name does not resolve back
		{"exists.test", "192.0.2.10", spfPass},
		{"exists.test", "192.0.2.11", spfFail},
		{"redir.test", "192.0.2.10", spfPass},
		{"redir.test", "192.0.2.11", spfFail},
		{"redirnone.test", "192.0.2.10", spfPermError},
		{"neutral.test", "192.0.2.10", spfNeutral},
		{"empty.test", "192.0.2.10", spfNeutral},
		{"ip6.test", "2001:db8::99", spfPass},
		{"ip6.test", "2001:db9::99", spfFail},
		{"ip6.test", "192.0.2.10", spfFail},
		{"voids.test", "192.0.2.10", spfPermError},
		{"incfail.test", "192.0.2.11", spfSoftFail},
		{"many.test", "192.0.2.99", spfPermError},
		{"nothing.test", "192.0.2.10", spfNone},
		{"nxdomain.test", "192.0.2.10", spfNone},
	}
	for _, c := range cases {
		e := &spfEval{ctx: context.Background(), r: &resolver{addr: addr, timeout: 2 * time.Second},
			ip: netip.MustParseAddr(c.ip), sender: "x@" + c.domain, helo: "h.test"}
		got, err := e.check(c.domain)
		if got != c.want {
			t.Errorf("check_host(%s, %s) = %s (%v), want %s", c.ip, c.domain, got, err, c.want)
		}
	}
}

// TestResolverTCPFallback: an answer too large for UDP arrives over TCP.
func TestResolverTCPFallback(t *testing.T) {
	long := strings.Repeat("k", 1500)
	z := dnstest.New(t, dnstest.TXT("big.test.", long))
	r := &resolver{addr: z.Serve(t), timeout: 2 * time.Second}
	txts, err := r.txt(context.Background(), "big.test")
	if err != nil || len(txts) != 1 || txts[0] != long {
		t.Fatalf("got %d records (%v), want the 1500-byte one", len(txts), err)
	}
}

func FuzzParseSPF(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", "v=spf1 a:%{d2}/24//64 mx ptr:x exists:%{ir}.%{v}.x include:y redirect=z exp=e ip4:1.2.3.4/8 ip6:::1/64 ~all"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseSPF(s)
		if err != nil {
			return
		}
		for _, term := range r.terms {
			if strings.IndexByte("+-~?", term.qual) < 0 || term.cidr4 < 0 || term.cidr4 > 32 || term.cidr6 < 0 || term.cidr6 > 128 {
				t.Fatalf("%q: bad term %+v", s, term)
			}
		}
	})
}

func FuzzExpandMacros(f *testing.F) {
	for _, s := range []string{"%{ir}.%{v}._spf.%{d2}", "%{l1r-}", "%{S}", "%%%_%-", "%{d200r+-.,/_=}"} {
		f.Add(s)
	}
	env := &macroEnv{sender: "a-b@c.d.example", domain: "c.d.example", ip: netip.MustParseAddr("2001:db8::1"), helo: "h.example"}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := expandMacros(s, env)
		if err == nil && strings.ContainsAny(out, "{}") && !strings.ContainsAny(s, "{}") {
			t.Fatalf("%q expanded to %q", s, out)
		}
	})
}
