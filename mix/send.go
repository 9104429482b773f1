package mix

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixgo/mixgo/internal/mailout"
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
	to, msg := n.outgoingMail(o)
	var err error
	if o.Kind == pool.KindMail || o.Kind == pool.KindPost {
		// A key problem defers the mail: sent unsigned it would be
		// refused or filed as spam where DMARC asks for a signature.
		if msg, err = n.signFinal(msg); err != nil {
			n.Log.Error("DKIM signing failed; final mail deferred", "err", err)
		}
	}
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
	return false
}
