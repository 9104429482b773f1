// Package doctor checks what decides whether a mail server's mail arrives
// or is filed as spam: the host name's addresses, reverse DNS, MX, SPF,
// DKIM and DMARC records, DNS block lists, the STARTTLS certificate and
// the SMTP greeting. Each check says in plain words what it found and, if
// something is wrong, the fix to apply.
//
// DNS questions go to one configured server with github.com/miekg/dns, so
// the answers are those the world sees, not /etc/hosts.
package doctor

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// Config is what to check.
type Config struct {
	// Host is the mail server's public name: EHLO, the SMTP greeting, the
	// target of the IP's reverse DNS and the certificate's name.
	Host string
	// Domain is the mail domain (the envelope sender's and From:'s): MX,
	// SPF and DMARC are looked up there.
	Domain string
	// Sender is the envelope sender, for SPF macros; "" = postmaster@Domain.
	Sender string
	// IPs are the addresses mail leaves from; empty = Host's addresses.
	IPs []netip.Addr

	// DKIMDomain and DKIMSelector name the DKIM key record
	// (SELECTOR._domainkey.DKIMDOMAIN); DKIMDomain "" = Domain. DKIMKey is
	// the public half of the signing key; nil = signing is off.
	DKIMDomain   string
	DKIMSelector string
	DKIMKey      crypto.PublicKey
	// DKIMKeyError is why the configured key could not be read, if so.
	DKIMKeyError error

	// DNSBLs are the block list zones to look the IPs up in.
	DNSBLs []string

	// Resolver is the DNS server (host:port); "" = the first nameserver of
	// /etc/resolv.conf.
	Resolver string
	// SMTPAddr is where the greeting and certificate are checked; "" =
	// Host:25.
	SMTPAddr string
	// Certificates is the configured certificate chain (leaf first), checked
	// when SMTPAddr cannot be reached; nil = none configured.
	Certificates []*x509.Certificate
	// RootCAs decides whether the certificate counts as publicly trusted
	// (nil = the system's roots). It only changes the explanation.
	RootCAs *x509.CertPool

	// Now is the time certificates are judged at; zero = time.Now().
	Now time.Time
	// Timeout bounds each DNS query and the SMTP visit; 0 = 5s.
	Timeout time.Duration
	// MinValidity is how long the certificate must still be valid; 0 =
	// 14 days (certbot renews with 30 left, so 14 means renewal is broken).
	MinValidity time.Duration
}

// Result is one check's verdict.
type Result struct {
	Check  string // short name
	OK     bool
	Detail string // what was found, in plain words
	Fix    string // what to do; set when !OK
}

// Run performs every check in a fixed order. The error is for a
// configuration that prevents checking at all.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Host == "" || cfg.Domain == "" {
		return nil, errors.New("doctor: the host name and the mail domain are required")
	}
	if cfg.Resolver == "" {
		r, err := systemResolver()
		if err != nil {
			return nil, fmt.Errorf("doctor: no resolver given and %w", err)
		}
		cfg.Resolver = r
	}
	if _, _, err := net.SplitHostPort(cfg.Resolver); err != nil {
		return nil, fmt.Errorf("doctor: resolver %q: want host:port", cfg.Resolver)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MinValidity <= 0 {
		cfg.MinValidity = 14 * 24 * time.Hour
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	if cfg.SMTPAddr == "" {
		cfg.SMTPAddr = net.JoinHostPort(cfg.Host, "25")
	}
	if cfg.DKIMDomain == "" {
		cfg.DKIMDomain = cfg.Domain
	}
	if cfg.Sender == "" {
		cfg.Sender = "postmaster@" + cfg.Domain
	}
	cfg.Host, cfg.Domain, cfg.DKIMDomain = trimDot(cfg.Host), trimDot(cfg.Domain), trimDot(cfg.DKIMDomain)
	r := &run{cfg: cfg, dns: &resolver{addr: cfg.Resolver, timeout: cfg.Timeout}, ctx: ctx}
	// The SMTP visit serves two checks; the address check decides which IPs
	// the others look at.
	p := probeSMTP(ctx, cfg.SMTPAddr, cfg.Host, cfg.Host, cfg.Timeout)
	return []Result{
		r.checkAddress(),
		r.checkReverse(),
		r.checkMX(),
		r.checkSPF(),
		r.checkDKIM(),
		r.checkDMARC(),
		r.checkDNSBL(),
		r.checkTLS(p),
		r.checkBanner(p),
	}, nil
}

// Write prints results, one line each with ✓ or ✗, the fix under each
// failure, and returns the number of failures.
func Write(w io.Writer, results []Result) (failed int) {
	width := 0
	for _, r := range results {
		width = max(width, utf8.RuneCountInString(r.Check))
	}
	for _, r := range results {
		mark := "✓"
		if !r.OK {
			mark = "✗"
			failed++
		}
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(r.Check))
		fmt.Fprintf(w, "%s %s%s  %s\n", mark, r.Check, pad, r.Detail)
		if !r.OK && r.Fix != "" {
			indent := strings.Repeat(" ", width+4)
			fmt.Fprintf(w, "%sfix: %s\n", indent, strings.ReplaceAll(r.Fix, "\n", "\n"+indent+"     "))
		}
	}
	return failed
}

type run struct {
	cfg Config
	dns *resolver
	ctx context.Context
	ips []netip.Addr // the IPs under test, set by checkAddress
}

func ok(check, detail string) Result { return Result{Check: check, OK: true, Detail: detail} }

func bad(check, detail, fix string) Result {
	return Result{Check: check, Detail: detail, Fix: fix}
}

// resolverFix is the advice when a lookup itself failed.
func (r *run) resolverFix() string {
	return fmt.Sprintf("make sure the DNS server %s answers (doctor_resolver sets another), then run the doctor again", r.cfg.Resolver)
}

// addrRecord is the zone line publishing ip for name.
func addrRecord(name string, ip netip.Addr) string {
	t := "A"
	if ip.Is6() {
		t = "AAAA"
	}
	return fmt.Sprintf("%s. IN %s %s", name, t, ip)
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func (r *run) checkAddress() Result {
	const name = "A/AAAA"
	c := r.cfg
	r.ips = c.IPs
	example := "192.0.2.1"
	if len(c.IPs) > 0 {
		example = c.IPs[0].String()
	}
	if c.Host == "localhost" || !strings.Contains(c.Host, ".") || net.ParseIP(c.Host) != nil {
		return bad(name, fmt.Sprintf("the host name %q is not a public DNS name", c.Host),
			"set hostname in mixd.conf to this server's public name (the one its IP's reverse DNS should give), e.g. mail.example.org")
	}
	addrs, err := r.dns.addrs(r.ctx, c.Host)
	switch {
	case errors.Is(err, errNXDomain):
		return bad(name, c.Host+" does not exist in DNS",
			fmt.Sprintf("publish the host's address at your DNS provider: %s. IN A %s", c.Host, example))
	case err != nil:
		return bad(name, "could not look up "+c.Host+": "+err.Error(), r.resolverFix())
	case len(addrs) == 0:
		return bad(name, c.Host+" has no A or AAAA record",
			fmt.Sprintf("publish the host's address at your DNS provider: %s. IN A %s", c.Host, example))
	}
	if len(r.ips) == 0 {
		r.ips = addrs
	}
	var missing []string
	for _, ip := range c.IPs {
		if !slices.Contains(addrs, ip) {
			missing = append(missing, addrRecord(c.Host, ip))
		}
	}
	if len(missing) > 0 {
		return bad(name, fmt.Sprintf("%s has %s, which does not include the public IP", c.Host, joinAddrs(addrs)),
			"publish "+strings.Join(missing, " and ")+" (or correct public_ip in mixd.conf)")
	}
	return ok(name, fmt.Sprintf("%s has %s", c.Host, joinAddrs(addrs)))
}

func (r *run) checkReverse() Result {
	const name = "reverse DNS"
	c := r.cfg
	if len(r.ips) == 0 {
		return bad(name, "no IP address to check", "set public_ip in mixd.conf to the address this server sends from")
	}
	var problems, fixes, good []string
	for _, ip := range r.ips {
		ptrFix := fmt.Sprintf("ask the provider of %s (whoever owns its address block, usually in their control panel) to set its reverse DNS to %s", ip, c.Host)
		names, err := r.dns.ptr(r.ctx, ip)
		switch {
		case err != nil && !errors.Is(err, errNXDomain):
			problems = append(problems, fmt.Sprintf("could not look up the reverse DNS of %s: %v", ip, err))
			fixes = append(fixes, r.resolverFix())
			continue
		case len(names) == 0:
			problems = append(problems, fmt.Sprintf("%s has no reverse DNS (PTR); big providers refuse such mail", ip))
			fixes = append(fixes, ptrFix)
			continue
		case !slices.Contains(names, c.Host):
			problems = append(problems, fmt.Sprintf("the reverse DNS of %s is %s, not %s", ip, strings.Join(names, ", "), c.Host))
			fixes = append(fixes, ptrFix+fmt.Sprintf(" (or, if %s is this server's name, set hostname = %s)", names[0], names[0]))
			continue
		}
		back, err := r.dns.addrs(r.ctx, c.Host)
		if err != nil || !slices.Contains(back, ip) {
			problems = append(problems, fmt.Sprintf("%s points to %s, but %s does not resolve back to %s", ip, c.Host, c.Host, ip))
			fixes = append(fixes, "publish "+addrRecord(c.Host, ip))
			continue
		}
		good = append(good, fmt.Sprintf("%s → %s → %s", ip, c.Host, ip))
	}
	if len(problems) > 0 {
		return bad(name, strings.Join(problems, "; "), strings.Join(slices.Compact(fixes), "; "))
	}
	return ok(name, strings.Join(good, ", "))
}

func (r *run) checkMX() Result {
	const name = "MX"
	c := r.cfg
	mxFix := fmt.Sprintf("publish %s. IN MX 10 %s. so that mail to the remailer and to abuse@%s arrives", c.Domain, c.Host, c.Domain)
	mxs, err := r.dns.mx(r.ctx, c.Domain)
	switch {
	case errors.Is(err, errNXDomain):
		return bad(name, c.Domain+" does not exist in DNS", "register the domain or correct address in mixd.conf; then "+mxFix)
	case err != nil:
		return bad(name, "could not look up the MX of "+c.Domain+": "+err.Error(), r.resolverFix())
	case len(mxs) == 0:
		return bad(name, c.Domain+" has no MX record", mxFix)
	}
	if len(mxs) == 1 && mxs[0].Mx == "." {
		return bad(name, c.Domain+" publishes a null MX: it says it receives no mail", "replace it: "+mxFix)
	}
	var hosts, dead []string
	mine := false
	for _, mx := range mxs {
		h := trimDot(mx.Mx)
		hosts = append(hosts, fmt.Sprintf("%s (%d)", h, mx.Preference))
		mine = mine || h == c.Host
		if a, err := r.dns.addrs(r.ctx, h); err != nil || len(a) == 0 {
			dead = append(dead, h)
		}
	}
	if len(dead) == len(mxs) {
		return bad(name, fmt.Sprintf("the MX hosts of %s (%s) have no address", c.Domain, strings.Join(dead, ", ")),
			"publish an A record for "+dead[0]+", or "+mxFix)
	}
	detail := fmt.Sprintf("%s receives mail at %s", c.Domain, strings.Join(hosts, ", "))
	if len(dead) > 0 {
		detail += "; without an address: " + strings.Join(dead, ", ")
	}
	if !mine {
		detail += fmt.Sprintf("; %s is not among them, so those hosts must pass the remailer's mail on", c.Host)
	}
	return ok(name, detail)
}

func (r *run) checkSPF() Result {
	const name = "SPF"
	c := r.cfg
	if len(r.ips) == 0 {
		return bad(name, "no IP address to check", "set public_ip in mixd.conf to the address this server sends from")
	}
	suggest := func(rec string) string {
		var add []string
		for _, ip := range r.ips {
			kind := "ip4:"
			if ip.Is6() {
				kind = "ip6:"
			}
			add = append(add, kind+ip.String())
		}
		if rec == "" {
			return fmt.Sprintf(`%s. IN TXT "v=spf1 %s -all"`, c.Domain, strings.Join(add, " "))
		}
		return fmt.Sprintf(`%s. IN TXT "v=spf1 %s%s"`, c.Domain, strings.Join(add, " "), rec[6:])
	}
	record := ""
	if txts, err := r.dns.txt(r.ctx, c.Domain); err == nil {
		for _, t := range txts {
			if isSPF(t) {
				record = t
			}
		}
	}
	var problems []string
	fix := ""
	for _, ip := range r.ips {
		e := &spfEval{ctx: r.ctx, r: r.dns, ip: ip, sender: c.Sender, helo: c.Host}
		res, err := e.check(c.Domain)
		switch res {
		case spfPass:
			continue
		case spfNone:
			return bad(name, c.Domain+" publishes no SPF record: receivers cannot tell its mail from forgeries",
				"publish "+suggest(""))
		case spfTempError:
			problems = append(problems, fmt.Sprintf("could not evaluate SPF for %s: %v", ip, err))
			fix = r.resolverFix()
		case spfPermError:
			problems = append(problems, fmt.Sprintf("the SPF record of %s is broken: %v; receivers treat it as a failure", c.Domain, err))
			fix = "correct the record; a valid one that allows this server: " + suggest("")
		default:
			problems = append(problems, fmt.Sprintf("the SPF record of %s gives %s for %s", c.Domain, res, ip))
			if fix == "" {
				fix = "allow the IP before the record's all term: " + suggest(record)
			}
		}
	}
	if len(problems) > 0 {
		return bad(name, strings.Join(problems, "; "), fix)
	}
	return ok(name, fmt.Sprintf("the SPF record of %s (%q) allows %s", c.Domain, record, joinAddrs(r.ips)))
}

// dkimValue is the TXT value publishing pub.
func dkimValue(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p)
	default:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "(the key cannot be encoded: " + err.Error() + ")"
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	}
}

func keyDescription(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", p.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	case *ecdsa.PublicKey:
		return "ECDSA"
	}
	return fmt.Sprintf("%T", pub)
}

func (r *run) checkDKIM() Result {
	const name = "DKIM"
	c := r.cfg
	if c.DKIMKeyError != nil {
		return bad(name, "the DKIM key cannot be used: "+c.DKIMKeyError.Error()+"; final mail waits in the queue until it can",
			"point dkim_key in mixd.conf at a readable PEM private key (RSA or Ed25519)")
	}
	if c.DKIMKey == nil {
		return bad(name, "DKIM signing is off (dkim_key is not set): big providers file unsigned mail as spam",
			"set dkim_key in mixd.conf to a PEM key (mixd init writes dkim.key; or: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.key), restart mixd and publish the record mixd dkim-record prints")
	}
	if c.DKIMSelector == "" {
		return bad(name, "no DKIM selector is set", "set dkim_selector in mixd.conf")
	}
	rec := c.DKIMSelector + "._domainkey." + c.DKIMDomain
	publish := fmt.Sprintf("publish the record mixd dkim-record prints:\n%s. IN TXT %q", rec, dkimValue(c.DKIMKey))
	txts, err := r.dns.txt(r.ctx, rec)
	switch {
	case errors.Is(err, errNXDomain) || (err == nil && len(txts) == 0):
		return bad(name, "no DKIM key record at "+rec+": receivers cannot check the signatures", publish)
	case err != nil:
		return bad(name, "could not look up "+rec+": "+err.Error(), r.resolverFix())
	}
	var problems []string
	for _, t := range txts {
		k, err := parseDKIMRecord(t)
		switch {
		case err != nil:
			problems = append(problems, "a malformed record ("+err.Error()+")")
		case k.revoked:
			problems = append(problems, "a revoked key (empty p=)")
		case !samePublicKey(c.DKIMKey, k.pub):
			problems = append(problems, "a different key than dkim_key")
		default:
			return ok(name, fmt.Sprintf("%s publishes the signing key (%s)", rec, keyDescription(c.DKIMKey)))
		}
	}
	return bad(name, rec+" holds "+strings.Join(problems, " and ")+", so signatures fail",
		publish+"\n(when rotating the key, publish the new one under a new dkim_selector first)")
}

func (r *run) checkDMARC() Result {
	const name = "DMARC"
	c := r.cfg
	fix := fmt.Sprintf(`publish _dmarc.%s. IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@%s" (Gmail and Yahoo want one; p=none asks receivers for reports only)`, c.Domain, c.Domain)
	// Without a record at the domain, receivers look at the organisational
	// domain; without the public suffix list, try each parent with two or
	// more labels.
	labels := strings.Split(c.Domain, ".")
	for i := 0; i+2 <= len(labels); i++ {
		dom := strings.Join(labels[i:], ".")
		txts, err := r.dns.txt(r.ctx, "_dmarc."+dom)
		if err != nil && !errors.Is(err, errNXDomain) {
			return bad(name, "could not look up _dmarc."+dom+": "+err.Error(), r.resolverFix())
		}
		var recs []string
		for _, t := range txts {
			if isDMARC(t) {
				recs = append(recs, t)
			}
		}
		switch {
		case len(recs) == 0:
			continue
		case len(recs) > 1:
			return bad(name, fmt.Sprintf("_dmarc.%s holds %d DMARC records; receivers then ignore them all", dom, len(recs)),
				"keep one of them")
		}
		d, err := parseDMARC(recs[0])
		if err != nil {
			return bad(name, fmt.Sprintf("the DMARC record at _dmarc.%s is invalid: %v", dom, err), fix)
		}
		detail := fmt.Sprintf("_dmarc.%s: policy %s", dom, d.policy)
		if dom != c.Domain {
			detail += " (inherited by " + c.Domain + ")"
			if d.subPolicy != "" {
				detail = fmt.Sprintf("_dmarc.%s: subdomain policy %s (inherited by %s)", dom, d.subPolicy, c.Domain)
			}
		}
		return ok(name, detail)
	}
	return bad(name, "no DMARC record for "+c.Domain, fix)
}

// dnsblName is the query name of ip in zone: reversed octets or nibbles.
func dnsblName(ip netip.Addr, zone string) (string, error) {
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return "", err
	}
	rev = strings.TrimSuffix(strings.TrimSuffix(rev, "in-addr.arpa."), "ip6.arpa.")
	return rev + trimDot(zone) + ".", nil
}

func (r *run) checkDNSBL() Result {
	const name = "block lists"
	c := r.cfg
	if len(c.DNSBLs) == 0 {
		return ok(name, "no block lists configured (dnsbl)")
	}
	if len(r.ips) == 0 {
		return bad(name, "no IP address to check", "set public_ip in mixd.conf to the address this server sends from")
	}
	var problems, fixes []string
	checked := 0
	for _, ip := range r.ips {
		for _, zone := range c.DNSBLs {
			q, err := dnsblName(ip, zone)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			rrs, err := r.dns.query(r.ctx, q, dns.TypeA)
			if errors.Is(err, errNXDomain) || (err == nil && len(rrs) == 0) {
				checked++
				continue
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("could not ask %s: %v", zone, err))
				fixes = append(fixes, r.resolverFix())
				continue
			}
			var a netip.Addr
			if rec, ok := rrs[0].(*dns.A); ok {
				a, _ = netip.AddrFromSlice(rec.A)
				a = a.Unmap()
			}
			switch {
			case netip.MustParsePrefix("127.255.255.0/24").Contains(a):
				problems = append(problems, fmt.Sprintf("%s refused to answer (%s): it does not serve large public resolvers", zone, a))
				fixes = append(fixes, "set doctor_resolver to a resolver of your own (e.g. unbound on this host, 127.0.0.1:53)")
			case !netip.MustParsePrefix("127.0.0.0/8").Contains(a):
				problems = append(problems, fmt.Sprintf("%s gave an unexpected answer %s: the resolver may rewrite missing names", zone, a))
				fixes = append(fixes, "set doctor_resolver to a resolver that returns NXDOMAIN unchanged")
			default:
				why := ""
				if txts, err := r.dns.txt(r.ctx, q); err == nil && len(txts) > 0 {
					why = ": " + clip(txts[0])
				}
				problems = append(problems, fmt.Sprintf("%s is listed on %s (%s%s)", ip, zone, a, why))
				fixes = append(fixes, fmt.Sprintf("find and stop the cause (an open relay, a compromised program, complaints about the mail), then request removal on the web site of %s", zone))
			}
		}
	}
	if len(problems) > 0 {
		return bad(name, strings.Join(problems, "; "), strings.Join(slices.Compact(fixes), "; "))
	}
	return ok(name, fmt.Sprintf("%s listed on none of %s", joinAddrs(r.ips), strings.Join(c.DNSBLs, ", ")))
}

func (r *run) checkTLS(p *probe) Result {
	const name = "TLS certificate"
	c := r.cfg
	enable := "set tls_cert and tls_key in mixd.conf (mixd init writes a self-signed pair; a CA-signed one, e.g. certbot certonly --standalone -d " + c.Host + ", is better) and restart mixd"
	chain, source := p.chain, "served on "+c.SMTPAddr
	switch {
	case p.err != nil && len(c.Certificates) > 0:
		chain, source = c.Certificates, "in tls_cert ("+c.SMTPAddr+" could not be reached)"
	case p.err != nil:
		return bad(name, "no certificate to check: "+c.SMTPAddr+" could not be reached and tls_cert is not set", enable)
	case p.code != 220:
		return bad(name, c.SMTPAddr+" refused the connection, so STARTTLS could not be tried", "see the SMTP banner check")
	case !p.startTLS:
		return bad(name, c.SMTPAddr+" does not offer STARTTLS: mail to it travels in clear and some receivers rate that down", enable)
	case p.tlsErr != nil:
		return bad(name, "STARTTLS on "+c.SMTPAddr+" fails: "+p.tlsErr.Error(), "check that tls_cert and tls_key are a matching pair readable by mixd")
	}
	leaf := chain[0]
	selfSigned := fmt.Sprintf("make a self-signed one (mixd picks up new files by itself):\nopenssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=%s -addext subjectAltName=DNS:%s -keyout tls.key -out tls.crt", c.Host, c.Host)
	renew := "renew it (certbot renew) or " + selfSigned
	if err := leaf.VerifyHostname(c.Host); err != nil {
		names := strings.Join(leaf.DNSNames, ", ")
		if names == "" {
			names = leaf.Subject.CommonName
		}
		return bad(name, fmt.Sprintf("the certificate %s is for %s, not %s", source, names, c.Host),
			"get one for "+c.Host+" (certbot certonly --standalone -d "+c.Host+") or "+selfSigned)
	}
	switch left := leaf.NotAfter.Sub(c.Now); {
	case c.Now.Before(leaf.NotBefore):
		return bad(name, fmt.Sprintf("the certificate %s is not valid before %s", source, leaf.NotBefore.UTC().Format(time.DateOnly)),
			"check this host's clock, or "+renew)
	case left <= 0:
		return bad(name, fmt.Sprintf("the certificate %s expired on %s", source, leaf.NotAfter.UTC().Format(time.DateOnly)), renew)
	case left < c.MinValidity:
		return bad(name, fmt.Sprintf("the certificate %s expires on %s, in %d days", source, leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24)), renew)
	}
	detail := fmt.Sprintf("the certificate %s is for %s and valid until %s", source, c.Host, leaf.NotAfter.UTC().Format(time.DateOnly))
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: c.Host, Roots: c.RootCAs, Intermediates: inter, CurrentTime: c.Now}); err == nil {
		detail += "; publicly trusted"
	} else {
		detail += "; not signed by a public CA: enough for STARTTLS between mail servers, not for MTA-STS"
	}
	return ok(name, detail)
}

func (r *run) checkBanner(p *probe) Result {
	const name = "SMTP banner"
	c := r.cfg
	switch {
	case p.err != nil && p.code == 0:
		return bad(name, "cannot reach "+c.SMTPAddr+": "+p.err.Error(),
			"start mixd and let port 25 through the firewall (forward it to mixd's listen address if that differs); doctor_smtp sets where this check connects")
	case p.code != 220:
		return bad(name, fmt.Sprintf("%s greets with %d %s", c.SMTPAddr, p.code, clip(p.banner)),
			"the server refuses connections: check max_connections and that nothing else answers on this port")
	}
	word, _, _ := strings.Cut(p.banner, " ")
	if trimDot(word) != c.Host {
		return bad(name, fmt.Sprintf("%s greets as %q, not %s", c.SMTPAddr, clip(word), c.Host),
			"set hostname = "+c.Host+" in mixd.conf (it names the greeting and EHLO) and restart mixd; if another MTA answers this port, set its host name (Postfix: myhostname)")
	}
	if p.err != nil {
		return bad(name, fmt.Sprintf("%s greets as %s but then fails: %v", c.SMTPAddr, c.Host, p.err), "check mixd's log")
	}
	return ok(name, fmt.Sprintf("%s answers 220 %s", c.SMTPAddr, clip(p.banner)))
}
