package mix

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/chain"
	"github.com/mixgo/mixgo/packet"
	"github.com/mixgo/mixgo/pool"
)

// Drop reasons, used as counter names and in debug logs. They never carry
// anything about the message itself.
const (
	reasonNotPacket   = "not-a-packet"
	reasonArmour      = "bad-armour"
	reasonUnknownKey  = "unknown-key"
	reasonBadPacket   = "bad-packet"
	reasonTagged      = "tagging-attempt"
	reasonDigest      = "bad-digest"
	reasonOld         = "too-old"
	reasonFuture      = "future-timestamp"
	reasonReplay      = "replay"
	reasonBadMessage  = "bad-message"
	reasonFinalRule   = "final-rules"
	reasonReroute     = "reroute-failed"
	reasonDummyIn     = "dummy-received"
	reasonSourceBlock = "source-blocked"
)

// errDropped marks an incoming entry that was handled by dropping it.
var errDropped = errors.New("dropped")

// ProcessIncoming decrypts one stored incoming mail and commits what it
// carries to the pool (or drops it with a counted reason). It is safe to
// call again for the same entry after a crash: an entry is removed in the
// same transaction that stores its result.
func (n *Node) ProcessIncoming(id pool.ID) error {
	raw, err := n.Store.LoadIncoming(id)
	if err != nil {
		return err
	}
	return n.processRaw(id, raw)
}

// ProcessDirect processes a mail that was not stored first: the caller
// keeps it until ProcessDirect returns nil (`mixd process`, whose exit
// status tells the MTA or the operator whether the mail is done; the SMTP
// listener, whose 250 waits for it). Packets are decrypted and their
// results stored in one commit each, without the round trip through the
// incoming queue; any other mail is stored as incoming, then handled at
// once, or queued when the daemon runs.
func (n *Node) ProcessDirect(raw []byte) error {
	return n.processRaw(pool.NoEntry, raw)
}

// processRaw handles one mail; id is its incoming entry, or pool.NoEntry.
func (n *Node) processRaw(id pool.ID, raw []byte) error {
	now := n.Clock()
	if len(raw) == packet.PacketSize {
		return n.processPacket(id, raw, now)
	}
	if n.rules().sourceBlocked(raw) {
		return n.drop(id, reasonSourceBlock, nil)
	}
	pkts, err := packet.Dearmor(raw)
	switch {
	case errors.Is(err, packet.ErrNotPacket):
		if id == pool.NoEntry {
			if id, err = n.Store.AddIncoming(raw); err != nil {
				return err
			}
			if n.work != nil {
				// A running daemon answers requests from its queue.
				n.enqueue(id)
				return nil
			}
		}
		return n.handleRequest(id, raw)
	case len(pkts) == 0:
		return n.drop(id, reasonArmour, err)
	case err != nil:
		// Keep the good packets of a partly broken mail, as 3.0.2d does.
		n.count(reasonArmour, err)
	}
	if len(pkts) == 1 {
		return n.processPacket(id, pkts[0], now)
	}
	if id == pool.NoEntry {
		for _, p := range pkts {
			if err := n.processPacket(id, p, now); err != nil && !errors.Is(err, errDropped) {
				return err
			}
		}
		return nil
	}
	// Several packets in one mail: store each on its own, then drop the
	// mail. A crash in between only repeats packets, which the replay log
	// then drops.
	for _, p := range pkts {
		pid, err := n.Store.AddIncoming(p)
		if err != nil {
			return err
		}
		n.enqueue(pid)
	}
	return n.Store.DropIncoming(id)
}

// count records a drop reason; details go to the debug log only.
func (n *Node) count(reason string, err error) {
	n.counts.Inc(reason)
	if err != nil {
		n.Log.Debug("dropped", "reason", reason, "err", err)
	} else {
		n.Log.Debug("dropped", "reason", reason)
	}
}

func (n *Node) drop(id pool.ID, reason string, err error) error {
	n.count(reason, err)
	if id == pool.NoEntry {
		return errDropped
	}
	if derr := n.Store.DropIncoming(id); derr != nil {
		return derr
	}
	return errDropped
}

func packetReason(err error) string {
	switch {
	case errors.Is(err, packet.ErrUnknownKey):
		return reasonUnknownKey
	case errors.Is(err, packet.ErrAntiTagBody), errors.Is(err, packet.ErrAntiTagHeader), errors.Is(err, packet.ErrAntiTagNext):
		return reasonTagged
	case errors.Is(err, packet.ErrDigest):
		return reasonDigest
	}
	return reasonBadPacket
}

func (n *Node) processPacket(id pool.ID, pkt []byte, now time.Time) error {
	var res *packet.Result
	var err error
	n.decrypting(func() { res, err = packet.Process(n.keys(), pkt, n.Rand) })
	if err != nil {
		return n.drop(id, packetReason(err), err)
	}
	// Every packet that decrypts, even a replay, may trigger dummies
	// (§12.3): their number must not tell what was received.
	defer n.inDummies(now)
	// §13: ts is the start of a UTC day.
	ts := time.Unix(int64(res.Days)*86400, 0)
	if !ts.After(now.Add(-n.Cfg.ReplayExpiry)) {
		return n.drop(id, reasonOld, nil)
	}
	if ts.After(now) {
		return n.drop(id, reasonFuture, nil)
	}
	var dup bool
	switch res.Type {
	case packet.TypeIntermediate:
		dup, err = n.Store.Accept(id, res.PacketID, now, pool.Item{Kind: pool.KindPacket, Dest: res.NextHop, Data: res.Packet})
	case packet.TypeFinal:
		data, derr := packet.DecodePayload(res.Payload)
		if derr != nil {
			return n.drop(id, reasonBadMessage, derr)
		}
		items, ferr := n.finalItems(data, now)
		if ferr != nil {
			// The packet ID is logged all the same, so that a replay of
			// a refused message is not worked on again.
			n.count(finalReason(ferr), ferr)
			items = nil
		}
		dup, err = n.Store.Accept(id, res.PacketID, now, items...)
	case packet.TypeChunk:
		data, derr := packet.DecodePayload(res.Payload)
		if derr != nil {
			return n.drop(id, reasonBadMessage, derr)
		}
		c := pool.Chunk{MsgID: res.MessageID, Num: res.Chunk, Count: res.Chunks, Data: data}
		_, dup, err = n.Store.AcceptChunk(id, res.PacketID, now, c, func(parts [][]byte) ([]pool.Item, error) {
			return n.finalItems(packet.JoinChunks(parts), now)
		})
		if errors.Is(err, pool.ErrRejected) {
			n.count(finalReason(err), err)
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("storing a processed packet: %w", err)
	}
	if dup {
		n.count(reasonReplay, nil)
	}
	return nil
}

func finalReason(err error) string {
	switch {
	case errors.Is(err, errReroute):
		return reasonReroute
	case errors.Is(err, packet.ErrMessage), errors.Is(err, packet.ErrMessageTooLarge):
		return reasonBadMessage
	}
	return reasonFinalRule
}

var errReroute = errors.New("middleman re-routing failed")

// finalItems turns a reassembled final message into what enters the pool:
// the delivered mail (§10), new packets through another remailer
// (middleman, §11), or nothing (dummy). It has no side effects besides
// drawing randomness: the chunk store may call it more than once.
func (n *Node) finalItems(data []byte, now time.Time) ([]pool.Item, error) {
	msg, err := packet.ParseMessage(data)
	if err != nil {
		return nil, err
	}
	if msg.IsDummy() {
		n.counts.Inc(reasonDummyIn)
		return nil, nil
	}
	final := n.rules() // the operator's files as they are now (destblock.go)
	if n.Cfg.Middleman && !AllowedDirect(final.destAllow, msg) {
		return n.reroute(msg, now)
	}
	msg = final.allowHeaders(msg)
	d, err := BuildFinal(final.cfg, msg)
	if err != nil {
		return nil, err
	}
	kind := pool.KindMail
	if d.Post {
		kind = pool.KindPost
	}
	return []pool.Item{{Kind: kind, Dest: strings.Join(d.Recipients, ","), Data: d.Text}}, nil
}

// reroute re-encrypts a final message through a chain ending at a random
// remailer that delivers (§11 step 2).
func (n *Node) reroute(msg *packet.Message, now time.Time) ([]pool.Item, error) {
	spec, err := chain.Parse(n.Cfg.ForwardTo)
	if err != nil {
		return nil, fmt.Errorf("%w: forward_to: %v", errReroute, err)
	}
	opt := chain.Options{Exclude: []string{n.Cfg.Name}, Relax: true, Rand: n.Rand}
	n.mu.RLock()
	ring := n.pubring
	n.mu.RUnlock()
	hops, err := chain.Select(ring, spec, now, opt)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errReroute, err)
	}
	path := make([]packet.Hop, len(hops))
	for i, h := range hops {
		path[i] = h.Hop()
	}
	exit := hops[len(hops)-1]
	out, err := packet.BuildMessage(n.Rand, now, msg, exit.Caps.Compress(), 1,
		func(int, int) ([]packet.Hop, error) { return path, nil })
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errReroute, err)
	}
	items := make([]pool.Item, len(out))
	for i, o := range out {
		items[i] = pool.Item{Kind: pool.KindPacket, Dest: o.To, Data: o.Packet}
	}
	return items, nil
}

// dummyItems builds one dummy message through a random four-hop chain
// (§12.4). A dummy may end at a middleman.
func (n *Node) dummyItems(now time.Time) ([]pool.Item, error) {
	n.mu.RLock()
	ring := n.pubring
	n.mu.RUnlock()
	hops, err := chain.Select(ring, []string{"*", "*", "*", "*"}, now, chain.Options{Dummy: true, Rand: n.Rand})
	if err != nil {
		return nil, err
	}
	path := make([]packet.Hop, len(hops))
	for i, h := range hops {
		path[i] = h.Hop()
	}
	out, err := packet.BuildMessage(n.Rand, now, &packet.Message{Destinations: []string{"null:"}}, false, 1,
		func(int, int) ([]packet.Hop, error) { return path, nil })
	if err != nil {
		return nil, err
	}
	items := make([]pool.Item, len(out))
	for i, o := range out {
		items[i] = pool.Item{Kind: pool.KindPacket, Dest: o.To, Data: o.Packet}
	}
	return items, nil
}

// addDummies puts count dummies into the pool.
func (n *Node) addDummies(count int, now time.Time) {
	for range count {
		items, err := n.dummyItems(now)
		if err != nil {
			n.count("dummy-failed", err)
			return
		}
		if err := n.Store.AddPool(now, items...); err != nil {
			n.Log.Error("storing a dummy", "err", err)
			return
		}
		n.counts.Inc("dummy-created")
	}
}

func (n *Node) inDummies(now time.Time) {
	c, err := pool.DummyCount(n.Cfg.InDummy, n.Rand)
	if err == nil && c > 0 {
		n.addDummies(c, now)
	}
}
