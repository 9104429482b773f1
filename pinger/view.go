package pinger

import (
	"slices"
	"strings"
	"time"

	"github.com/mixgo/mixgo/keyring"
)

// viewMaxAge bounds how long computed statistics are reused: they depend
// on the clock (outstanding pings age) as well as on the store.
const viewMaxAge = 30 * time.Second

// RemailerView is one remailer as published.
type RemailerView struct {
	Name, Address string
	Caps          Capstring
	Key           *keyring.PublicKey
	Stats         Stats
	Row           Row
	Record        RemailerRecord
	Pings         []Ping // its single pings in the window, oldest first
	Hidden        bool   // caps say "testing": not in the public lists (as Echolot)
}

// View is the statistics at one moment, everything the published files
// are made of.
type View struct {
	Generated time.Time
	// Remailers are in list order (Echolot's sort); hidden ones last.
	Remailers []RemailerView
	// Broken are the broken chains as published (names, compressed).
	Broken []Pair
	// BrokenPairs are the broken pairs before compression (names).
	BrokenPairs []Pair
	// IntensiveCare are the pairs to chain-ping daily (addresses).
	IntensiveCare []Pair
	// ChainPings counts the chain pings judged (sent in the chain period).
	ChainPings, ChainReturned int
	// List is mlist2.txt / mlist.txt; Type1 is the (empty) rlist2.txt.
	List, Type1 *List
}

// View returns the statistics at now, reusing the last computation while
// the store is unchanged and the clock moved less than viewMaxAge.
func (p *Pinger) View(now time.Time) (*View, error) {
	gen := p.gen.Load()
	p.mu.Lock()
	if p.view != nil && p.viewGen == gen && now.Sub(p.viewTime).Abs() < viewMaxAge {
		v := p.view
		p.mu.Unlock()
		return v, nil
	}
	p.mu.Unlock()
	v, err := p.buildView(now)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.view, p.viewGen, p.viewTime = v, gen, now
	p.mu.Unlock()
	return v, nil
}

// capstringOf is the remailer's $remailer line: the one it sent, or one
// made from its key (mix, middle for an M key) when only the key is known.
func capstringOf(r RemailerRecord, k *keyring.PublicKey) Capstring {
	if c, err := ParseCapstring(r.Capstring); err == nil && strings.EqualFold(c.Address, r.Address) {
		return c
	}
	c := Capstring{Name: k.Name, Address: k.Address, Caps: []string{"mix"}}
	if k.Caps.Middleman() {
		c.Caps = append(c.Caps, "middle")
	}
	return c
}

func (p *Pinger) buildView(now time.Time) (*View, error) {
	opts := p.Cfg.Stats.orDefault()
	targets, err := p.Targets(now)
	if err != nil {
		return nil, err
	}
	horizon := max(Days*day, opts.ChainPeriod)
	recs, err := p.Store.Pings(now.Add(-horizon))
	if err != nil {
		return nil, err
	}
	var singles []Ping
	var chains []ChainPing
	for _, r := range recs {
		switch len(r.Remailers) {
		case 1:
			singles = append(singles, Ping{Remailer: strings.ToLower(r.Remailers[0]), Sent: r.Sent, Received: r.Received})
		case 2:
			chains = append(chains, ChainPing{First: strings.ToLower(r.Remailers[0]), Second: strings.ToLower(r.Remailers[1]),
				Sent: r.Sent, Received: r.Received})
		}
	}
	stats := Compute(singles, now, opts)

	v := &View{Generated: now, List: &List{Generated: now, Title: "Mixmaster"}, Type1: &List{Generated: now, Title: "Cypherpunk"}}
	judged := map[string]Stats{}
	names := map[string]string{} // address → name
	var shown, hidden []RemailerView
	for _, t := range targets {
		addr := strings.ToLower(t.Rec.Address)
		caps := capstringOf(t.Rec, t.Key)
		rv := RemailerView{Name: caps.Name, Address: t.Rec.Address, Caps: caps, Key: t.Key, Stats: stats[addr], Record: t.Rec,
			Hidden: caps.Has("testing")}
		rv.Row = NewRow(rv.Name, caps.Caps, rv.Stats)
		for _, pg := range singles {
			if pg.Remailer == addr && dayIndex(pg.Sent, now, Days) >= 0 {
				rv.Pings = append(rv.Pings, pg)
			}
		}
		judged[addr] = rv.Stats
		names[addr] = rv.Name
		if rv.Hidden {
			hidden = append(hidden, rv)
		} else {
			shown = append(shown, rv)
		}
	}
	rows := make([]Row, len(shown))
	byName := map[string]RemailerView{}
	for i, rv := range shown {
		rows[i] = rv.Row
		byName[rv.Name] = rv
		v.List.Caps = append(v.List.Caps, rv.Caps)
	}
	SortRows(rows, p.Cfg.SortByLatency)
	v.List.Rows = rows
	for _, r := range rows {
		v.Remailers = append(v.Remailers, byName[r.Name])
	}
	v.Remailers = append(v.Remailers, hidden...)

	verdict := JudgeChains(chains, judged, now, opts)
	for _, c := range chains {
		if _, ok := judged[c.First]; !ok {
			continue
		}
		if c.Sent.After(now.Add(-opts.ChainPeriod)) && !c.Sent.After(now) {
			v.ChainPings++
			if !c.Received.IsZero() && !c.Received.After(now) {
				v.ChainReturned++
			}
		}
	}
	v.IntensiveCare = verdict.IntensiveCare
	for _, pr := range verdict.Broken {
		a, b := names[pr.From], names[pr.To]
		if byName[a].Name == "" || byName[b].Name == "" {
			continue // only listed remailers' pairs are published
		}
		v.BrokenPairs = append(v.BrokenPairs, Pair{a, b})
	}
	v.Broken = CompressBroken(v.BrokenPairs, len(targets), opts.AllBadFactor)
	v.List.Broken2 = v.Broken
	return v, nil
}

// Pubring returns the current keys of the listed remailers, by name: the
// content of pubring.mix and type2.list.
func (v *View) Pubring() []*keyring.PublicKey {
	var keys []*keyring.PublicKey
	for _, r := range v.Remailers {
		if !r.Hidden {
			keys = append(keys, r.Key)
		}
	}
	sortKeys(keys)
	return keys
}

func sortKeys(keys []*keyring.PublicKey) {
	slices.SortFunc(keys, func(a, b *keyring.PublicKey) int { return strings.Compare(a.Name, b.Name) })
}

// PubringText is pubring.mix: each key as key.txt writes it.
func (v *View) PubringText() []byte {
	var out []byte
	for _, k := range v.Pubring() {
		out = append(out, k.KeyTxt()...)
	}
	return out
}

// Type2Text is type2.list: one attribute line per remailer.
func (v *View) Type2Text() []byte {
	var out []byte
	for _, k := range v.Pubring() {
		out = append(out, k.Type2Line()+"\n"...)
	}
	return out
}

// BrokenText is the broken-chain list: one "(a b)" per line.
func (v *View) BrokenText() []byte {
	var b strings.Builder
	for _, pr := range v.Broken {
		b.WriteString(pr.String() + "\n")
	}
	return []byte(b.String())
}
