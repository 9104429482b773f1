package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// errNXDomain is a lookup of a name that does not exist.
var errNXDomain = errors.New("no such domain")

// resolver asks one DNS server over UDP (TCP when the answer is
// truncated) and remembers answers for one run.
type resolver struct {
	addr    string
	timeout time.Duration

	mu    sync.Mutex
	cache map[string]answer
}

type answer struct {
	rrs []dns.RR
	err error
}

// systemResolver is the first nameserver of /etc/resolv.conf.
func systemResolver() (string, error) {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("reading /etc/resolv.conf: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("/etc/resolv.conf names no nameserver")
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// query returns the answer records of type qtype for name. A name that
// does not exist is errNXDomain; one without such records is (nil, nil).
func (r *resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	name = dns.Fqdn(strings.ToLower(name))
	key := name + "/" + dns.TypeToString[qtype]
	r.mu.Lock()
	if a, ok := r.cache[key]; ok {
		r.mu.Unlock()
		return a.rrs, a.err
	}
	r.mu.Unlock()
	rrs, err := r.exchange(ctx, name, qtype)
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]answer{}
	}
	r.cache[key] = answer{rrs, err}
	r.mu.Unlock()
	return rrs, err
}

func (r *resolver) exchange(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("%q is not a domain name", name)
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	c := &dns.Client{Net: "udp", Timeout: r.timeout}
	var in *dns.Msg
	var err error
	for try := 0; try < 2; try++ { // one retry: UDP may be lost
		in, _, err = c.ExchangeContext(ctx, m, r.addr)
		if err == nil {
			break
		}
	}
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("asking %s for %s %s: %w", r.addr, name, dns.TypeToString[qtype], err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, errNXDomain
	default:
		return nil, fmt.Errorf("%s %s: server answered %s", name, dns.TypeToString[qtype], dns.RcodeToString[in.Rcode])
	}
	var out []dns.RR
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out, nil
}

// addrs returns the A and AAAA addresses of name.
func (r *resolver) addrs(ctx context.Context, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.query(ctx, name, t)
		if err != nil {
			return nil, err
		}
		for _, rr := range rrs {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	return out, nil
}

// txt returns the TXT records of name, each one's strings joined.
func (r *resolver) txt(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, err
}

// mx returns the MX records of name.
func (r *resolver) mx(ctx context.Context, name string) ([]*dns.MX, error) {
	rrs, err := r.query(ctx, name, dns.TypeMX)
	var out []*dns.MX
	for _, rr := range rrs {
		if m, ok := rr.(*dns.MX); ok {
			out = append(out, m)
		}
	}
	return out, err
}

// ptr returns the names the reverse DNS of ip points to, without the
// final dot.
func (r *resolver) ptr(ctx context.Context, ip netip.Addr) ([]string, error) {
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return nil, err
	}
	rrs, err := r.query(ctx, rev, dns.TypePTR)
	var out []string
	for _, rr := range rrs {
		if p, ok := rr.(*dns.PTR); ok {
			out = append(out, trimDot(p.Ptr))
		}
	}
	return out, err
}

// trimDot lowers a name and drops its final dot, for comparisons.
func trimDot(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }
