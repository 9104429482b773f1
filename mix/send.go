package mix

import (
	"context"
	"fmt"
	"strings"
	"sync"
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

// SendDue delivers the outgoing entries whose time has come, at most
// send_concurrency at once, and reports each to the store: Ack once the
// next hop accepted it, Fail otherwise (retried if temporary).
func (n *Node) SendDue(ctx context.Context, s mailout.Sender) (sent, failed int, err error) {
	for {
		due, err := n.Store.Due(n.Clock(), 256)
		if err != nil || len(due) == 0 {
			return sent, failed, err
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(1, n.Cfg.SendConcurrency))
		for _, o := range due {
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(o pool.Outgoing) {
				defer func() { <-sem; wg.Done() }()
				ok := n.sendOne(ctx, s, o)
				mu.Lock()
				if ok {
					sent++
				} else {
					failed++
				}
				mu.Unlock()
			}(o)
		}
		wg.Wait()
		if ctx.Err() != nil {
			return sent, failed, ctx.Err()
		}
		if failed > 0 && sent == 0 {
			// Everything failed this round: leave the rest to the next
			// attempt instead of spinning.
			return sent, failed, nil
		}
	}
}

func (n *Node) sendOne(ctx context.Context, s mailout.Sender, o pool.Outgoing) bool {
	to, msg := n.outgoingMail(o)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err := s.Send(sctx, n.Cfg.Address, to, msg)
	cancel()
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
