package packet

import (
	"fmt"
	"io"
	"time"
)

// ChainFunc returns the chain (sending order) for one packet of a message:
// chunk is 1-based, copy 0-based. Every chain of a message must end at the
// same exit, which reassembles the chunks and drops extra copies (§8.5).
type ChainFunc func(chunk, copy int) ([]Hop, error)

// Outgoing is one packet of a message and where to send it.
type Outgoing struct {
	To     string // address of the chain's first hop
	Packet []byte // 20480 bytes
}

// BuildMessage makes every packet of msg as Mixmaster's client does: the
// message structure is split into chunks that share a random message ID;
// each chunk is sent in copies that share the exit's packet ID, each through
// the chain chains returns. compress asks for §8.4 compression (only when
// the exit's capabilities include C). Packets are returned chunk by chunk.
func BuildMessage(rnd io.Reader, now time.Time, msg *Message, compress bool, copies int, chains ChainFunc) ([]Outgoing, error) {
	if copies < 1 {
		copies = 1
	}
	data, err := msg.Encode(compress)
	if err != nil {
		return nil, err
	}
	parts, err := SplitChunks(data)
	if err != nil {
		return nil, err
	}
	var fin Final
	if _, err := io.ReadFull(rnd, fin.MessageID[:]); err != nil {
		return nil, err
	}
	fin.Chunks = len(parts)
	var exit *Hop
	var out []Outgoing
	for i, part := range parts {
		fin.Chunk = i + 1
		if _, err := io.ReadFull(rnd, fin.PacketID[:]); err != nil {
			return nil, err
		}
		payload, err := EncodePayload(rnd, part)
		if err != nil {
			return nil, err
		}
		for c := 0; c < copies; c++ {
			chain, err := chains(fin.Chunk, c)
			if err != nil {
				return nil, err
			}
			if len(chain) == 0 {
				return nil, ErrEmptyChain
			}
			last := chain[len(chain)-1]
			if exit == nil {
				exit = &last
			} else if last.KeyID != exit.KeyID {
				return nil, fmt.Errorf("packet: chunk %d copy %d ends at %s, not at the message's exit %s", fin.Chunk, c+1, last.Address, exit.Address)
			}
			pkt, err := Build(rnd, now, chain, fin, payload)
			if err != nil {
				return nil, err
			}
			out = append(out, Outgoing{To: chain[0].Address, Packet: pkt})
		}
	}
	return out, nil
}
