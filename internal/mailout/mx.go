package mailout

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxSessions bounds the MX hosts "mx" considers, and the addresses it
// tries, per recipient domain and Send.
const maxSessions = 10

// maxCNAME bounds the CNAME chain followed in one lookup.
const maxCNAME = 8

// dnsTimeoutCap caps one DNS query's timeout.
const dnsTimeoutCap = 10 * time.Second

// mxSender delivers directly to each recipient domain's mail hosts (see
// the package documentation).
type mxSender struct {
	opt *options
	res resolver
}

func newMX(o *options) *mxSender {
	t := min(o.Timeout, dnsTimeoutCap)
	var res resolver = &sysResolver{timeout: t}
	if o.Resolver != "" {
		res = &dnsResolver{addr: o.Resolver, timeout: t}
	}
	return &mxSender{opt: o, res: res}
}

func (m *mxSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	rcpts, e := checkEnvelope(from, to)
	if e != nil {
		return e
	}
	data := toCRLF(msg)
	var order []string
	groups := make(map[string][]string)
	out := make(map[string]*Error, len(rcpts))
	for _, r := range rcpts {
		d, _ := splitAddr(r) // checked by checkEnvelope
		if strings.HasPrefix(d, "[") {
			out[r] = invalidAddress(errors.New("address literal"))
			continue
		}
		a, _ := asciiDomain(d)
		if groups[a] == nil {
			order = append(order, a)
		}
		groups[a] = append(groups[a], r)
	}
	for _, d := range order {
		for r, e := range m.deliverDomain(ctx, d, from, groups[d], data) {
			out[r] = e
		}
	}
	return result(rcpts, out)
}

// mxHost is one mail host of a domain; addrs is nil until looked up.
type mxHost struct {
	name  string
	addrs []netip.Addr
}

// worse returns the error to keep for a recipient that failed with old and
// then new: a temporary failure wins over a permanent one from another host.
func worse(old, new *Error) *Error {
	if old != nil && old.Temporary && !new.Temporary {
		return old
	}
	return new
}

// deliverDomain delivers to rcpts, all in domain (ASCII form), and returns
// each one's outcome (nil = delivered).
func (m *mxSender) deliverDomain(ctx context.Context, domain, from string, rcpts []string, data []byte) map[string]*Error {
	out := make(map[string]*Error, len(rcpts))
	hosts, e := m.hosts(ctx, domain)
	if e != nil {
		for _, r := range rcpts {
			out[r] = e
		}
		return out
	}
	policy := tlsOpportunistic
	switch {
	case m.opt.StartTLS == StartTLSRequired || m.opt.verifiedDomains[domain]:
		policy = tlsVerified
	case m.opt.StartTLS == StartTLSOff:
		policy = tlsOff
	}

	pending := rcpts
	var noHost *Error // why hosts gave no session
	sessions := 0
hosts:
	for _, h := range hosts {
		if ctx.Err() != nil {
			break
		}
		if h.addrs == nil {
			addrs, e := m.res.addrs(ctx, h.name)
			if e != nil {
				noHost = worseOrFirst(noHost, e)
				continue
			}
			h.addrs = addrs
		}
		for _, a := range h.addrs {
			if sessions >= maxSessions || ctx.Err() != nil {
				break hosts
			}
			sessions++
			addr := netip.AddrPortFrom(a, uint16(m.opt.Port)).String()
			res, sessErr, early := deliver(ctx, m.opt, addr, h.name, policy, false, from, pending, data)
			if sessErr != nil {
				if !early && !sessErr.Temporary {
					for _, r := range pending {
						out[r] = sessErr
					}
					return out
				}
				for _, r := range pending {
					out[r] = worse(out[r], sessErr)
				}
				continue
			}
			var next []string
			for _, r := range pending {
				e, ok := res[r]
				if !ok {
					continue // cannot happen: transact reports every recipient
				}
				out[r] = e
				if e != nil && e.Temporary {
					next = append(next, r)
				}
			}
			pending = next
			if len(pending) == 0 {
				return out
			}
		}
	}
	for _, r := range pending {
		if out[r] != nil {
			continue
		}
		switch {
		case noHost != nil:
			out[r] = noHost
		case ctx.Err() != nil:
			out[r] = classify(ctx, "connect", ctx.Err())
		default:
			out[r] = temporary("connect", "no usable mail host", nil)
		}
	}
	return out
}

func worseOrFirst(old, new *Error) *Error {
	if old == nil {
		return new
	}
	return worse(old, new)
}

// hosts returns domain's mail hosts in the order to try.
func (m *mxSender) hosts(ctx context.Context, domain string) ([]mxHost, *Error) {
	mxs, e := m.res.mx(ctx, domain)
	if e != nil {
		return nil, e
	}
	if len(mxs) == 0 {
		addrs, e := m.res.addrs(ctx, domain)
		if e != nil {
			if !e.Temporary {
				return nil, permanent("dns", "domain has no MX and no address", e.Err)
			}
			return nil, e
		}
		return []mxHost{{name: domain, addrs: addrs}}, nil
	}
	var hosts []*net.MX
	for _, mx := range mxs {
		if mx.Host != "" {
			hosts = append(hosts, mx)
		}
	}
	if len(hosts) == 0 {
		// Only null MX records (RFC 7505).
		return nil, permanent("dns", "domain accepts no mail (null MX)", nil)
	}
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	slices.SortStableFunc(hosts, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	if len(hosts) > maxSessions {
		hosts = hosts[:maxSessions]
	}
	r := make([]mxHost, len(hosts))
	for i, h := range hosts {
		r[i] = mxHost{name: h.Host}
	}
	return r, nil
}

// A resolver finds mail hosts and addresses. Host names it returns have no
// trailing dot; a null MX has Host "".
type resolver interface {
	// mx returns domain's MX records: none (and no error) if it has none,
	// a permanent error if the domain does not exist.
	mx(ctx context.Context, domain string) ([]*net.MX, *Error)
	// addrs returns host's IPv4 then IPv6 addresses, or a permanent error
	// if it has none.
	addrs(ctx context.Context, host string) ([]netip.Addr, *Error)
}

func dnsName(s string) string {
	s = strings.TrimSuffix(s, ".")
	return strings.ToLower(s)
}

func sortAddrs(a []netip.Addr) []netip.Addr {
	for i := range a {
		a[i] = a[i].Unmap()
	}
	slices.SortStableFunc(a, func(x, y netip.Addr) int {
		switch {
		case x.Is4() == y.Is4():
			return 0
		case x.Is4():
			return -1
		}
		return 1
	})
	return slices.Compact(a)
}

// sysResolver uses the system's resolver (net.Resolver).
type sysResolver struct {
	r       net.Resolver
	timeout time.Duration
}

func (s *sysResolver) mx(ctx context.Context, domain string) ([]*net.MX, *Error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	mxs, err := s.r.LookupMX(ctx, domain)
	if len(mxs) > 0 {
		r := make([]*net.MX, len(mxs))
		for i, mx := range mxs {
			r[i] = &net.MX{Host: dnsName(mx.Host), Pref: mx.Pref}
		}
		return r, nil
	}
	var de *net.DNSError
	if err == nil || errors.As(err, &de) && de.IsNotFound {
		// No MX, or no such domain: the address lookup decides.
		return nil, nil
	}
	return nil, temporary("dns", "MX lookup failed", err)
}

func (s *sysResolver) addrs(ctx context.Context, host string) ([]netip.Addr, *Error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	a, err := s.r.LookupNetIP(ctx, "ip", host)
	if len(a) > 0 {
		return sortAddrs(a), nil
	}
	var de *net.DNSError
	if err == nil || errors.As(err, &de) && de.IsNotFound {
		return nil, permanent("dns", "no such host", err)
	}
	return nil, temporary("dns", "address lookup failed", err)
}

// dnsResolver asks one DNS server (Options.Resolver) with miekg/dns: UDP,
// TCP when the answer is truncated, two tries.
type dnsResolver struct {
	addr    string
	timeout time.Duration
}

// errNXDomain marks a lookup of a name that does not exist.
var errNXDomain = errors.New("no such domain")

// lookup returns the records of type qtype for name, following CNAMEs; none
// for NODATA; errNXDomain (not an *Error) when the name does not exist.
func (r *dnsResolver) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	for range maxCNAME {
		in, err := r.exchange(ctx, name, qtype)
		if err != nil {
			return nil, err
		}
		switch in.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return nil, errNXDomain
		default:
			return nil, temporary("dns", "server failure", fmt.Errorf("rcode %s", dns.RcodeToString[in.Rcode]))
		}
		var rrs []dns.RR
		target := ""
		for _, rr := range in.Answer {
			switch {
			case rr.Header().Rrtype == qtype:
				rrs = append(rrs, rr)
			case rr.Header().Rrtype == dns.TypeCNAME:
				target = rr.(*dns.CNAME).Target
			}
		}
		if len(rrs) > 0 || target == "" {
			return rrs, nil
		}
		name = target // a CNAME without its target's records: ask again
	}
	return nil, temporary("dns", "CNAME chain too long", nil)
}

func (r *dnsResolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	var err error
	for range 2 {
		var in *dns.Msg
		c := &dns.Client{Net: "udp", Timeout: r.timeout, UDPSize: 1232}
		in, _, err = c.ExchangeContext(ctx, m, r.addr)
		if err == nil && in.Truncated {
			c.Net = "tcp"
			in, _, err = c.ExchangeContext(ctx, m, r.addr)
		}
		if err == nil {
			return in, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, classify(ctx, "dns", err)
}

func (r *dnsResolver) mx(ctx context.Context, domain string) ([]*net.MX, *Error) {
	rrs, err := r.lookup(ctx, domain, dns.TypeMX)
	if err == errNXDomain {
		return nil, permanent("dns", "no such domain", err)
	}
	if err != nil {
		return nil, err.(*Error)
	}
	var mxs []*net.MX
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		mxs = append(mxs, &net.MX{Host: dnsName(mx.Mx), Pref: mx.Preference})
	}
	return mxs, nil
}

func (r *dnsResolver) addrs(ctx context.Context, host string) ([]netip.Addr, *Error) {
	var addrs []netip.Addr
	var tempErr *Error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.lookup(ctx, host, qtype)
		if err == errNXDomain {
			break // no such name: no AAAA either
		}
		if err != nil {
			tempErr = err.(*Error)
			continue
		}
		for _, rr := range rrs {
			var ip net.IP
			switch rr := rr.(type) {
			case *dns.A:
				ip = rr.A
			case *dns.AAAA:
				ip = rr.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a)
			}
		}
	}
	switch {
	case len(addrs) > 0:
		return sortAddrs(addrs), nil
	case tempErr != nil:
		return nil, tempErr
	}
	return nil, permanent("dns", "no such host", errors.New("no A or AAAA records"))
}
