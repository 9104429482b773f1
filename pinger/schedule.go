package pinger

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Scheduling (§2, §3, §5 of the Echolot document). Echolot picks each
// ping's 5-minute slot in a 2-hour session by hashing its secret; we let
// robfig/cron mark the start of each period and plan every action of the
// period at a uniformly random moment in it, drawn from crypto/rand, so
// that outsiders cannot predict when a remailer is pinged. Planned actions
// are stored, so a restart keeps the plan.

// cronParser takes five-field specs and descriptors (@every 2h, @daily).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

type schedules struct {
	ping, chain, chainIC, discovery, allPingers cron.Schedule
}

// ParseSchedule checks one cron spec; "" means never.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("pinger: schedule %q: %w", spec, err)
	}
	return s, nil
}

func (p *Pinger) parseSchedules() (schedules, error) {
	var s schedules
	for _, f := range []struct {
		spec string
		dst  *cron.Schedule
	}{
		{p.Cfg.Schedules.Ping, &s.ping},
		{p.Cfg.Schedules.Chain, &s.chain},
		{p.Cfg.Schedules.ChainIC, &s.chainIC},
		{p.Cfg.Schedules.Discovery, &s.discovery},
		{p.Cfg.Schedules.AllPingers, &s.allPingers},
	} {
		v, err := ParseSchedule(f.spec)
		if err != nil {
			return s, err
		}
		*f.dst = v
	}
	return s, nil
}

// startCron registers the planners. When nothing is planned yet (first
// start, or a long stop), every planner also runs at once for the time up
// to its next run, so a new pinger does not wait a week for chain pings.
func (p *Pinger) startCron(ctx context.Context, s schedules) *cron.Cron {
	c := cron.New(cron.WithLocation(time.UTC), cron.WithParser(cronParser))
	jobs := []struct {
		sched cron.Schedule
		run   func(now time.Time, period time.Duration)
	}{
		{s.discovery, func(now time.Time, period time.Duration) { p.PlanDiscovery(now, period) }},
		{s.ping, func(now time.Time, period time.Duration) { p.PlanPings(now, period) }},
		{s.chain, func(now time.Time, period time.Duration) { p.PlanChains(now, period, false) }},
		{s.chainIC, func(now time.Time, period time.Duration) { p.PlanChains(now, period, true) }},
		{s.allPingers, func(time.Time, time.Duration) { // fetches take up to a minute each
			p.bg.Add(1)
			go func() { defer p.bg.Done(); p.FetchPeers(ctx) }()
		}},
	}
	_, planned := p.Store.NextDue()
	for _, j := range jobs {
		if j.sched == nil {
			continue
		}
		sched, run := j.sched, j.run
		c.Schedule(sched, cron.FuncJob(func() {
			now := p.Clock()
			run(now, sched.Next(now).Sub(now))
		}))
		if !planned {
			now := p.Clock()
			run(now, sched.Next(now).Sub(now))
		}
	}
	c.Start()
	return c
}

// plan stores items at random moments in [now, now+period).
func (p *Pinger) plan(now time.Time, period time.Duration, items []PlanItem) {
	if len(items) == 0 {
		return
	}
	due := make([]time.Time, len(items))
	for i := range items {
		off, err := randInt(p.Rand, int64(max(period, time.Millisecond)))
		if err != nil {
			p.Log.Error("planning", "err", err)
			return
		}
		due[i] = now.Add(time.Duration(off))
	}
	if err := p.Store.AddPlan(due, items); err != nil {
		p.Log.Error("storing the plan", "err", err)
	}
}

// PlanPings plans one ping through every remailer with a current key.
func (p *Pinger) PlanPings(now time.Time, period time.Duration) int {
	ts, err := p.Targets(now)
	if err != nil {
		p.Log.Error("listing remailers", "err", err)
		return 0
	}
	items := make([]PlanItem, len(ts))
	for i, t := range ts {
		items[i] = PlanItem{Kind: "ping", Targets: []string{t.Rec.Address}}
	}
	p.plan(now, period, items)
	return len(items)
}

// PlanChains plans a chain ping through every ordered pair of remailers
// (§5), or with intensiveCare only through the pairs the last judgement
// put in intensive care.
func (p *Pinger) PlanChains(now time.Time, period time.Duration, intensiveCare bool) int {
	ts, err := p.Targets(now)
	if err != nil {
		p.Log.Error("listing remailers", "err", err)
		return 0
	}
	var items []PlanItem
	if intensiveCare {
		v, err := p.View(now)
		if err != nil {
			p.Log.Error("computing statistics", "err", err)
			return 0
		}
		for _, pr := range v.IntensiveCare {
			items = append(items, PlanItem{Kind: "chain", Targets: []string{pr.From, pr.To}})
		}
	} else {
		for _, a := range ts {
			for _, b := range ts {
				if a.Rec.Address != b.Rec.Address {
					items = append(items, PlanItem{Kind: "chain", Targets: []string{a.Rec.Address, b.Rec.Address}})
				}
			}
		}
	}
	p.plan(now, period, items)
	return len(items)
}

// PlanDiscovery imports the seed keyring and plans a remailer-key and a
// remailer-conf request to every configured or known remailer.
func (p *Pinger) PlanDiscovery(now time.Time, period time.Duration) int {
	p.importSeed(now)
	addrs := map[string]string{}
	for _, a := range p.Cfg.Remailers {
		addrs[strings.ToLower(a)] = a
	}
	recs, err := p.Store.Remailers()
	if err != nil {
		p.Log.Error("listing remailers", "err", err)
	}
	for _, r := range recs {
		if !r.Seeded || r.Capstring != "" {
			addrs[strings.ToLower(r.Address)] = r.Address
		}
	}
	var items []PlanItem
	for _, a := range addrs {
		items = append(items, PlanItem{Kind: "key", Targets: []string{a}}, PlanItem{Kind: "conf", Targets: []string{a}})
	}
	p.plan(now, period, items)
	return len(items)
}

// runPlan carries out planned actions as they fall due, a few at a time,
// and expires old data hourly.
func (p *Pinger) runPlan(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	defer wg.Wait()
	var lastExpiry time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := p.Clock()
		if now.Sub(lastExpiry) > time.Hour {
			p.Expire(now)
			lastExpiry = now
		}
		due, items, err := p.Store.TakeDue(now, 64)
		if err != nil {
			p.Log.Error("reading the plan", "err", err)
			continue
		}
		for i, it := range items {
			if now.Sub(due[i]) > lateLimit {
				p.counts.Inc("plan-too-late")
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(it PlanItem) {
				defer func() { <-sem; wg.Done() }()
				p.Do(ctx, it)
			}(it)
		}
	}
}

// Do carries out one planned action now.
func (p *Pinger) Do(ctx context.Context, it PlanItem) {
	var err error
	switch it.Kind {
	case "ping", "chain":
		err = p.SendPing(ctx, it.Targets)
	case "key", "conf":
		if len(it.Targets) == 1 {
			err = p.SendRequest(ctx, it.Targets[0], it.Kind)
		}
	default:
		p.counts.Inc("plan-unknown")
	}
	if err != nil && ctx.Err() == nil {
		p.Log.Debug("planned action failed", "kind", it.Kind, "err", err)
	}
}

// Expire drops pings and requests older than the statistics need.
func (p *Pinger) Expire(now time.Time) {
	keep := max(Days*day, p.Cfg.Stats.ChainPeriod) + time.Hour
	if n, err := p.Store.ExpirePings(now.Add(-keep)); err != nil {
		p.Log.Error("expiring pings", "err", err)
	} else if n > 0 {
		p.changed()
	}
	if _, err := p.Store.ExpireRequests(now.Add(-requestExpiry)); err != nil {
		p.Log.Error("expiring requests", "err", err)
	}
}
