package mix

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixgo/mixgo/internal/mailout"
	"github.com/mixgo/mixgo/internal/parallel"
	"github.com/mixgo/mixgo/packet"
	"github.com/mixgo/mixgo/pool"
)

// newSender builds the configured egress.
func (n *Node) newSender() (mailout.Sender, error) {
	opt := mailout.Options{
		HeloName: n.Cfg.Hostname,
		Username: n.Cfg.SMTPUser,
		StartTLS: n.Cfg.StartTLS,
		Resolver: n.Cfg.DNSResolver,
		Timeout:  n.Cfg.WriteTimeout,

		RequireVerifiedTLS: strings.Fields(n.Cfg.TLSVerifiedDomains),
	}
	if n.Cfg.SMTPPasswordFile != "" {
		p, err := readSecretFile(n.path(n.Cfg.SMTPPasswordFile))
		if err != nil {
			return nil, fmt.Errorf("smtp_password_file: %w", err)
		}
		opt.Password = p
	}
	s, err := mailout.New(n.Cfg.Deliver, opt)
	if err != nil {
		return nil, fmt.Errorf("deliver %q: %w", n.Cfg.Deliver, err)
	}
	return s, nil
}

// outgoingMail renders an outgoing entry as the mail to hand over.
func (n *Node) outgoingMail(o pool.Outgoing) (to []string, msg []byte) {
	if o.Kind == pool.KindPacket {
		env := packet.Envelope{From: n.Cfg.Address, To: o.Dest, Precedence: n.Cfg.Precedence}
		return []string{o.Dest}, packet.ArmorMail(env, n.Cfg.ProtocolVersionStr, o.Data)
	}
	return strings.Split(o.Dest, ","), o.Data
}

// dueBatch is how many outgoing entries one Due hands out.
const dueBatch = 256

// SendDue delivers the outgoing entries whose time has come, at most
// send_concurrency at once, and reports each to the store: Ack once the
// next hop accepted it, Fail otherwise (retried if temporary). It fetches
// the next entries while the last ones are still being sent, and an
// acknowledgement does not hold a sending slot: acknowledgements of many
// deliveries then share one commit.
func (n *Node) SendDue(ctx context.Context, s mailout.Sender) (sent, failed int, err error) {
	if bs, ok := s.(mailout.BatchSender); ok {
		return n.sendDueBatches(ctx, bs)
	}
	var nsent, nfailed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, n.Cfg.SendConcurrency))
	err = func() error {
		for round := 0; ; round++ {
			if round > 0 && nsent.Load() == 0 && nfailed.Load() > 0 {
				// Nothing got through yet: let the deliveries in flight
				// finish, and stop if they all failed (the next hop is
				// down) instead of working through the whole queue.
				wg.Wait()
				if nsent.Load() == 0 {
					return nil
				}
			}
			due, err := n.Store.Due(n.Clock(), dueBatch)
			if err != nil || len(due) == 0 {
				return err
			}
			for _, o := range due {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return ctx.Err()
				}
				wg.Add(1)
				go func(o pool.Outgoing) {
					defer wg.Done()
					if n.sendOne(ctx, s, o, func() { <-sem }) {
						nsent.Add(1)
					} else {
						nfailed.Add(1)
					}
				}(o)
			}
		}
	}()
	wg.Wait()
	return int(nsent.Load()), int(nfailed.Load()), err
}

// sendOne delivers one entry and reports it to the store; delivered is
// called as soon as the delivery attempt is over.
func (n *Node) sendOne(ctx context.Context, s mailout.Sender, o pool.Outgoing, delivered func()) bool {
	to, msg, err := n.render(o)
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err = s.Send(sctx, n.Cfg.Address, to, msg)
		cancel()
	}
	delivered()
	if err == nil {
		if err := n.Store.Ack(o.ID); err != nil {
			n.Log.Error("acknowledging a sent entry", "err", err)
		}
		return true
	}
	n.deliveryFailed(o, err)
	return false
}

// render is the mail an outgoing entry is handed over as: the armoured
// packet, or the final mail DKIM-signed. A signing error defers the
// entry: sent unsigned it would be refused or filed as spam where DMARC
// asks for a signature.
func (n *Node) render(o pool.Outgoing) (to []string, msg []byte, err error) {
	to, msg = n.outgoingMail(o)
	if o.Kind == pool.KindMail || o.Kind == pool.KindPost {
		if msg, err = n.signFinal(msg); err != nil {
			n.Log.Error("DKIM signing failed; final mail deferred", "err", err)
		}
	}
	return to, msg, err
}

// deliveryFailed reports a failed delivery to the store: retried later if
// the failure is temporary, else dropped (never bounced).
func (n *Node) deliveryFailed(o pool.Outgoing, err error) {
	permanent := !mailout.IsTemporary(err)
	dropped, ferr := n.Store.Fail(o.ID, n.Clock(), permanent)
	if ferr != nil {
		n.Log.Error("recording a failed delivery", "err", ferr)
	}
	if dropped {
		n.count("delivery-dropped", err)
	} else {
		n.count("delivery-deferred", err)
	}
}

// sendDueBatches is SendDue for a sender that takes a batch at once (dir:).
func (n *Node) sendDueBatches(ctx context.Context, s mailout.BatchSender) (sent, failed int, err error) {
	return n.sendBatches(ctx, s, func() ([]pool.Outgoing, error) { return n.Store.Due(n.Clock(), dueBatch) })
}

// batchWork is one batch on its way through sendBatches.
type batchWork struct {
	due   []pool.Outgoing
	mails []mailout.Mail
	errs  []error // rendering errors
}

// sendBatches delivers the batches next hands out until it hands out none,
// in a pipeline whose stages overlap: taking a batch from the store;
// rendering it on all cores; handing it over in one SendBatch (one sync)
// and acknowledging it in one commit, three batches at a time. It stops
// taking batches when a whole batch failed (the next hop is down: the rest
// waits for its retry time); those already taken are given back.
func (n *Node) sendBatches(ctx context.Context, s mailout.BatchSender, next func() ([]pool.Outgoing, error)) (sent, failed int, err error) {
	// stop ends the taking only: batches being sent finish.
	takeCtx, stop := context.WithCancel(ctx)
	defer stop()
	taken := make(chan []pool.Outgoing, 1)
	prodErr := make(chan error, 1)
	go func() {
		defer close(taken)
		for takeCtx.Err() == nil {
			due, err := next()
			if err != nil || len(due) == 0 {
				prodErr <- err
				return
			}
			select {
			case taken <- due:
			case <-takeCtx.Done():
				n.release(due)
			}
		}
		prodErr <- takeCtx.Err()
	}()
	work := make(chan batchWork, 1)
	go func() {
		defer close(work)
		for due := range taken {
			b := batchWork{due: due, mails: make([]mailout.Mail, len(due)), errs: make([]error, len(due))}
			parallel.For(len(due), runtime.GOMAXPROCS(0), func(i int) {
				b.mails[i].To, b.mails[i].Msg, b.errs[i] = n.render(due[i])
			})
			work <- b
		}
	}()
	// Three batches in flight: one's sync runs while the next ones are
	// written (two made the flush of 2000 packets 0.05 s slower).
	sem := make(chan struct{}, 3)
	var mu sync.Mutex
	var wg sync.WaitGroup
	stopped := false
	for b := range work {
		sem <- struct{}{}
		mu.Lock()
		skip := stopped
		mu.Unlock()
		if skip {
			n.release(b.due)
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok, nfailed := n.sendBatch(ctx, s, b)
			aerr := n.Store.AckMany(ok)
			if aerr != nil {
				n.Log.Error("acknowledging sent entries", "err", aerr)
			}
			mu.Lock()
			defer mu.Unlock()
			sent += len(ok)
			failed += nfailed
			if aerr != nil && err == nil {
				err = aerr
			}
			if aerr != nil || len(ok) == 0 {
				stopped = true
				stop()
			}
		}()
	}
	wg.Wait()
	if perr := <-prodErr; perr != nil && !stopped && err == nil {
		err = perr
	}
	return sent, failed, err
}

// release gives back entries taken from the store but not sent.
func (n *Node) release(due []pool.Outgoing) {
	ids := make([]pool.ID, len(due))
	for i, o := range due {
		ids[i] = o.ID
	}
	if err := n.Store.Release(n.Clock(), ids); err != nil {
		n.Log.Error("giving back unsent entries", "err", err)
	}
}

// sendBatch hands one rendered batch over and records its failures; it
// returns the entries delivered, for the caller to acknowledge.
func (n *Node) sendBatch(ctx context.Context, s mailout.BatchSender, b batchWork) (ok []pool.ID, failed int) {
	var send []mailout.Mail
	var idx []int
	for i := range b.due {
		if b.errs[i] == nil {
			send = append(send, b.mails[i])
			idx = append(idx, i)
		}
	}
	if len(send) > 0 {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		serrs := s.SendBatch(sctx, n.Cfg.Address, send)
		cancel()
		for j, i := range idx {
			b.errs[i] = serrs[j]
		}
	}
	for i, o := range b.due {
		if b.errs[i] != nil {
			n.deliveryFailed(o, b.errs[i])
			failed++
			continue
		}
		ok = append(ok, o.ID)
	}
	return ok, failed
}
