package pinger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/mixgo/mixgo/internal/netlimit"
)

// A finger server (RFC 1288) for the statistics: "finger @host" prints
// mlist2.txt, "finger help@host" what else can be asked. A query is one
// line of at most maxFingerQuery bytes, read within the client timeout;
// forwarding (user@host@host) is refused, as RFC 1288 §3.2.1 allows.

const maxFingerQuery = 512

// fingerQueries maps a query word to a published file.
var fingerQueries = []struct {
	words []string
	doc   string
	what  string
}{
	{[]string{"", "mlist2", "stats", "list"}, "mlist2.txt", "Type II statistics (mlist2.txt)"},
	{[]string{"help"}, "", "this text"},
	{[]string{"mlist"}, "mlist.txt", "Type II statistics, v1 format (mlist.txt)"},
	{[]string{"rlist2"}, "rlist2.txt", "Type I statistics (empty here)"},
	{[]string{"keys", "pubring"}, "pubring.mix", "the remailers' keys (pubring.mix)"},
	{[]string{"type2"}, "type2.list", "the remailers' key lines (type2.list)"},
	{[]string{"chains", "broken"}, "broken.txt", "broken chains"},
	{[]string{"median"}, "median/mlist2.txt", "median of this and other pingers' lists"},
}

func (p *Pinger) serveFinger(ctx context.Context, l net.Listener) error {
	ll := netlimit.New(l, p.Cfg.MaxConnections, "Too many connections, try again later.\r\n")
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ll.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			p.fingerConn(c)
		}()
	}
}

func (p *Pinger) fingerConn(c net.Conn) {
	t := p.Cfg.ClientTimeout
	c.SetReadDeadline(time.Now().Add(t))
	q, err := readQuery(c)
	c.SetWriteDeadline(time.Now().Add(3 * t))
	if err != nil {
		p.counts.Inc("finger-bad-query")
		io.WriteString(c, err.Error()+"\r\n")
		return
	}
	p.counts.Inc("finger-served")
	c.Write(crlf(p.FingerAnswer(q, p.Clock())))
}

// readQuery reads the query line, without its CR LF.
func readQuery(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxFingerQuery+2), maxFingerQuery+2)
	line, err := br.ReadString('\n')
	if err != nil {
		if len(line) > maxFingerQuery {
			return "", errors.New("query too long")
		}
		return "", errors.New("no query line")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// FingerAnswer is the text answering one query (LF line ends).
func (p *Pinger) FingerAnswer(query string, now time.Time) []byte {
	q := strings.TrimSpace(query)
	// "/W" asks for verbose output; we have one level.
	if rest, ok := strings.CutPrefix(q, "/W"); ok && (rest == "" || rest[0] == ' ') {
		q = strings.TrimSpace(rest)
	}
	if strings.Contains(q, "@") {
		return []byte("Finger forwarding service denied.\n")
	}
	w := strings.ToLower(q)
	for _, fq := range fingerQueries {
		for _, word := range fq.words {
			if w != word {
				continue
			}
			if fq.doc == "" {
				return p.fingerHelp()
			}
			data, _, err := p.Render(fq.doc, now)
			if err != nil {
				p.Log.Error("rendering for finger", "err", err)
				return []byte("Statistics unavailable, try again later.\n")
			}
			if fq.doc == "broken.txt" && len(data) == 0 {
				return []byte("No broken chains.\n")
			}
			return data
		}
	}
	v, err := p.View(now)
	if err != nil {
		return []byte("Statistics unavailable, try again later.\n")
	}
	for _, r := range v.Remailers {
		if strings.EqualFold(r.Name, q) {
			return remailerDetail(r)
		}
	}
	return []byte(fmt.Sprintf("Nothing known as %q. Try \"finger help@host\".\n", printable(q)))
}

func (p *Pinger) fingerHelp() []byte {
	_, host, _ := strings.Cut(p.Cfg.Address, "@")
	var b strings.Builder
	fmt.Fprintf(&b, "%s: remailer statistics over finger.\n\n", p.Cfg.Name)
	for _, fq := range fingerQueries {
		for _, word := range fq.words[:1] {
			ask := "finger " + word + "@" + host
			if word == "" {
				ask = "finger @" + host
			}
			fmt.Fprintf(&b, "  %-28s %s\n", ask, fq.what)
		}
	}
	fmt.Fprintf(&b, "  %-28s %s\n", "finger NAME@"+host, "one remailer's last 12 days")
	b.WriteString("\nThe same files, JSON and an HTML page are served over HTTP.\n")
	return []byte(b.String())
}

// remailerDetail is one remailer's statistics day by day.
func remailerDetail(r RemailerView) []byte {
	var b strings.Builder
	s := r.Stats
	fmt.Fprintf(&b, "%s <%s>\n%s\n\n", r.Name, r.Address, r.Caps.String())
	fmt.Fprintf(&b, "reliability %5.1f%%   latency %s   pings %d sent, %d back (last %d days)\n\n",
		s.Reliability*100, strings.TrimSpace(latency1(s.RowLatency())), s.Sent, s.Returned, Days)
	b.WriteString("day      sent  back  uptime   median latency\n")
	for d := 0; d < Days; d++ {
		ds := s.Day[d]
		when := fmt.Sprintf("-%dd", d)
		if d == 0 {
			when = "today"
		}
		lat := "-"
		if ds.Returned > 0 {
			lat = strings.TrimSpace(latency1(ds.Latency))
		}
		up := "    -"
		if ds.Sent > 0 {
			up = fmt.Sprintf("%5.1f%%", ds.Uptime()*100)
		}
		fmt.Fprintf(&b, "%-7s %5d %5d  %6s   %s\n", when, ds.Sent, ds.Returned, up, lat)
	}
	return []byte(b.String())
}

// crlf turns LF line ends into CR LF, as RFC 1288 wants.
func crlf(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// printable drops control characters from text echoed back.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
