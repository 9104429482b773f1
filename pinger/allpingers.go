package pinger

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Several pingers (§7.6): the pinger fetches other pingers' mlist2.txt
// (the allpingers list, Config.AllPingers) and publishes the median of
// their view and its own, so that one broken or dishonest pinger cannot
// move a client's choice alone. Echolot has no such thing; Steve Crook's
// metastats aggregated lists the same way, with min/avg/max.

const (
	peerMaxSize = 1 << 20     // a list larger than this is refused
	peerMaxAge  = 2 * day     // an older fetch no longer counts
	peerTimeout = time.Minute // per fetch
)

// FetchPeers fetches every configured pinger's list and stores those that
// parse as a Type II v2 list.
func (p *Pinger) FetchPeers(ctx context.Context) {
	client := &http.Client{
		Timeout: peerTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return fmt.Errorf("too many redirects")
			}
			return nil
		},
	}
	for _, u := range p.Cfg.AllPingers {
		if err := p.fetchPeer(ctx, client, u); err != nil {
			p.counts.Inc("peer-fetch-failed")
			p.Log.Warn("fetching another pinger's list", "url", u, "err", err)
			continue
		}
		p.counts.Inc("peer-fetched")
	}
}

func (p *Pinger) fetchPeer(ctx context.Context, client *http.Client, u string) error {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return fmt.Errorf("not an http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "mixgo-pinger")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	data, err := readLimited(resp.Body, peerMaxSize)
	if err != nil {
		return err
	}
	l, _ := ParseMlist2(data)
	if len(l.Rows) == 0 || !strings.EqualFold(l.Title, "Mixmaster") {
		return fmt.Errorf("not a Type II mlist2.txt with rows")
	}
	return p.Store.PutPeer(u, PeerList{Fetched: p.Clock(), Data: data})
}

// MedianView is the combination of several pingers' lists.
type MedianView struct {
	Sources []string // "self" and the peers' URLs that counted
	List    *List
}

// Median combines this pinger's list with the peers' fetched in the last
// peerMaxAge: per remailer the median uptime and latency, the median of
// each history day, the most common options; a broken pair is kept when
// more than half of the lists name it.
func (p *Pinger) Median(v *View) (*MedianView, error) {
	peers, err := p.Store.Peers()
	if err != nil {
		return nil, err
	}
	m := &MedianView{Sources: []string{"self"}}
	lists := []*List{v.List}
	urls := make([]string, 0, len(peers))
	for u := range peers {
		urls = append(urls, u)
	}
	slices.Sort(urls)
	for _, u := range urls {
		pl := peers[u]
		if v.Generated.Sub(pl.Fetched) > peerMaxAge || !slices.Contains(p.Cfg.AllPingers, u) {
			continue
		}
		l, _ := ParseMlist2(pl.Data)
		if len(l.Rows) == 0 {
			continue
		}
		lists = append(lists, l)
		m.Sources = append(m.Sources, u)
	}
	m.List = MedianList(lists, v.Generated)
	SortRows(m.List.Rows, p.Cfg.SortByLatency)
	return m, nil
}

// MedianList combines lists (the first one's capability lines win) into
// one, generated at now. Rows are not sorted.
func MedianList(lists []*List, now time.Time) *List {
	out := &List{Generated: now, Title: "Mixmaster"}
	rows := map[string][]Row{}
	var names []string
	caps := map[string]Capstring{}
	pairs := map[Pair]int{}
	for _, l := range lists {
		for _, r := range l.Rows {
			if _, ok := rows[r.Name]; !ok {
				names = append(names, r.Name)
			}
			rows[r.Name] = append(rows[r.Name], r)
		}
		for _, c := range l.Caps {
			if _, ok := caps[c.Name]; !ok {
				caps[c.Name] = c
			}
		}
		seen := map[Pair]bool{}
		for _, pr := range l.Broken2 {
			if !seen[pr] {
				seen[pr] = true
				pairs[pr]++
			}
		}
	}
	for _, name := range names {
		out.Rows = append(out.Rows, medianRow(rows[name]))
		if c, ok := caps[name]; ok {
			out.Caps = append(out.Caps, c)
		}
	}
	for pr, n := range pairs {
		if 2*n > len(lists) {
			out.Broken2 = append(out.Broken2, pr)
		}
	}
	sortPairs(out.Broken2)
	return out
}

func medianRow(rs []Row) Row {
	out := Row{Name: rs[0].Name}
	var ups []float64
	var lats []time.Duration
	opts := map[string]int{}
	for _, r := range rs {
		ups = append(ups, r.Uptime)
		if r.Latency != NoLatency && r.Latency >= 0 {
			lats = append(lats, r.Latency)
		}
		opts[r.Options]++
	}
	slices.Sort(ups)
	n := len(ups)
	out.Uptime = ups[n/2]
	if n%2 == 0 {
		out.Uptime = (ups[n/2-1] + ups[n/2]) / 2
	}
	slices.Sort(lats)
	out.Latency = NoLatency
	if len(lats) > 0 {
		out.Latency = median(lats)
	}
	best := -1
	for _, r := range rs { // first listed wins a tie
		if opts[r.Options] > best {
			best, out.Options = opts[r.Options], r.Options
		}
	}
	out.LatentHist = medianHist(rs, func(r Row) string { return r.LatentHist }, LatencyClasses)
	out.UptimeHist = medianHist(rs, func(r Row) string { return r.UptimeHist }, "0123456789+")
	out.History = historyFromLatent(out.LatentHist)
	return out
}

// medianHist takes, for each of the Days positions, the median of the
// characters in alphabet order ('?' and unknown characters skipped; the
// lower middle for an even count, so the result is a real class).
func medianHist(rs []Row, field func(Row) string, alphabet string) string {
	var b [Days]byte
	for i := range Days {
		var ranks []int
		for _, r := range rs {
			h := field(r)
			if len(h) != Days {
				continue
			}
			if k := strings.IndexByte(alphabet, h[i]); k >= 0 {
				ranks = append(ranks, k)
			}
		}
		if len(ranks) == 0 {
			b[i] = '?'
			continue
		}
		slices.Sort(ranks)
		b[i] = alphabet[ranks[(len(ranks)-1)/2]]
	}
	return string(b[:])
}

// historyFromLatent maps v2 Latent-Hist classes to the coarser v1 history
// characters; '#' (under 5 minutes) cannot be told from a v2 class, so
// class 0 (under 20 minutes) becomes '*'.
func historyFromLatent(h string) string {
	var b [Days]byte
	for i := range Days {
		k := strings.IndexByte(LatencyClasses, h[i])
		switch {
		case k < 0:
			b[i] = ' '
		case k <= 1: // < 1 h
			b[i] = '*'
		case k <= 4: // < 4 h
			b[i] = '+'
		case k <= 12: // < 24 h
			b[i] = '-'
		case k <= 16: // < 48 h
			b[i] = '.'
		default:
			b[i] = '_'
		}
	}
	return string(b[:])
}

// allPingersText lists the configured pingers in Mixmaster's
// allpingers.txt format, assuming Echolot's file names beside each list.
func (p *Pinger) allPingersText() []byte {
	var b strings.Builder
	for _, u := range p.Cfg.AllPingers {
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" {
			continue
		}
		base := u[:strings.LastIndexByte(u, '/')+1]
		fmt.Fprintf(&b, "[%s]\nbase=%s\nmlist=%smlist.txt\nrlist=%srlist.txt\nmixring=%spubring.mix\n\n",
			strings.ReplaceAll(pu.Host, "]", ""), base, base, base, base)
	}
	return []byte(b.String())
}
