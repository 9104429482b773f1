// Package dnstest is a real DNS server on 127.0.0.1 serving a zone the test
// controls, for tests of code that looks things up in DNS.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone is a set of records served over UDP and TCP on one port. A name
// with no records at all is NXDOMAIN; answers over 512 bytes on UDP are
// truncated so the client retries on TCP, as with a real server. Records
// may be changed while it serves.
type Zone struct {
	mu  sync.Mutex
	rrs map[string][]dns.RR // by lower-case FQDN
}

// New returns a zone holding records in zone-file syntax.
func New(t testing.TB, records ...string) *Zone {
	t.Helper()
	z := &Zone{rrs: map[string][]dns.RR{}}
	for _, r := range records {
		z.Add(t, r)
	}
	return z
}

// Add adds one record in zone-file syntax.
func (z *Zone) Add(t testing.TB, record string) {
	t.Helper()
	rr, err := dns.NewRR(record)
	if err != nil || rr == nil {
		t.Fatalf("bad test record %q: %v", record, err)
	}
	name := strings.ToLower(rr.Header().Name)
	z.mu.Lock()
	z.rrs[name] = append(z.rrs[name], rr)
	z.mu.Unlock()
}

// Remove drops the records of name with type qtype.
func (z *Zone) Remove(name string, qtype uint16) {
	name = dns.Fqdn(strings.ToLower(name))
	z.mu.Lock()
	defer z.mu.Unlock()
	var keep []dns.RR
	for _, rr := range z.rrs[name] {
		if rr.Header().Rrtype != qtype {
			keep = append(keep, rr)
		}
	}
	if len(keep) == 0 {
		delete(z.rrs, name)
	} else {
		z.rrs[name] = keep
	}
}

// ServeDNS answers from the zone.
func (z *Zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) == 1 {
		q := req.Question[0]
		z.mu.Lock()
		rrs, exists := z.rrs[strings.ToLower(q.Name)]
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		z.mu.Unlock()
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(dns.MinMsgSize)
	}
	w.WriteMsg(m)
}

// Serve starts the server until the test ends and returns its address.
func (z *Zone) Serve(t testing.TB) string {
	t.Helper()
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			if try < 20 {
				continue // the TCP port was taken: another pair
			}
			t.Fatal(err)
		}
		for _, s := range []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
			started := make(chan struct{})
			s.NotifyStartedFunc = func() { close(started) }
			go s.ActivateAndServe()
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("DNS server did not start")
			}
			t.Cleanup(func() { s.Shutdown() })
		}
		return pc.LocalAddr().String()
	}
}

// TXT renders a TXT record, splitting the value into 255-byte strings as
// a zone file must.
func TXT(name, value string) string {
	var parts []string
	for len(value) > 255 {
		parts = append(parts, `"`+value[:255]+`"`)
		value = value[255:]
	}
	parts = append(parts, `"`+value+`"`)
	return name + " 300 IN TXT " + strings.Join(parts, " ")
}
