package packet

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
)

// TestRoundTripBodies sends messages of the sizes that matter through a
// real chain with BuildMessage and reassembles them at the exit as a
// remailer does: empty, 1 byte, exactly one payload, one byte more, three
// chunks, and the largest message the client allows (255 chunks).
func TestRoundTripBodies(t *testing.T) {
	keys := loadTestKeys(t)
	ring := keys.ring()
	chain := []Hop{keys.hop("alpha"), keys.hop("delta")}
	dest := []string{"rcpt@example.test"}
	// The message structure adds 1+80 (destination) and 1 (no header
	// lines) bytes in front of the body.
	overhead := 1 + AddressSize + 1
	sizes := map[string]int{
		"empty":       0,
		"one byte":    1,
		"one payload": MaxChunkData - overhead,
		"one more":    MaxChunkData - overhead + 1,
		"three":       3*MaxChunkData - overhead - 100,
		"largest":     MaxChunks*MaxChunkData - overhead - 1,
	}
	for name, size := range sizes {
		t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
			body := make([]byte, size)
			rand.Read(body) // random: compression cannot shrink it
			msg := &Message{Destinations: dest, Body: body}
			out, err := BuildMessage(rand.Reader, testNow, msg, true, 1, func(int, int) ([]Hop, error) { return chain, nil })
			if err != nil {
				t.Fatal(err)
			}
			want := (size+overhead)/MaxChunkData + 1
			if len(out) != want {
				t.Fatalf("%d packets, want %d", len(out), want)
			}
			parts := make([][]byte, len(out))
			var id [MessageIDSize]byte
			for i, o := range out {
				if o.To != "alpha@remailer.test" {
					t.Fatalf("packet %d to %s", i, o.To)
				}
				r := walk(t, ring, chain, o.Packet)
				if i == 0 {
					id = r.MessageID
				}
				if r.MessageID != id || r.Chunks != len(out) {
					t.Fatalf("packet %d: message %x chunk %d/%d", i, r.MessageID, r.Chunk, r.Chunks)
				}
				data, err := DecodePayload(r.Payload)
				if err != nil {
					t.Fatal(err)
				}
				parts[r.Chunk-1] = data
			}
			got, err := ParseMessage(JoinChunks(parts))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Body, body) || len(got.Destinations) != 1 || got.Destinations[0] != dest[0] {
				t.Fatalf("message changed: %d bytes body, destinations %v", len(got.Body), got.Destinations)
			}
		})
	}
	// One byte more than the largest is refused.
	msg := &Message{Destinations: dest, Body: make([]byte, MaxChunks*MaxChunkData-overhead)}
	if _, err := BuildMessage(rand.Reader, testNow, msg, false, 1, func(int, int) ([]Hop, error) { return chain, nil }); err == nil {
		t.Error("a message of 256 chunks was built")
	}
}

// TestCopiesShareExitPacketID: copies of a message share the exit's
// packet ID (the exit delivers only the first) and nothing else.
func TestCopiesShareExitPacketID(t *testing.T) {
	keys := loadTestKeys(t)
	ring := keys.ring()
	chains := [][]Hop{{keys.hop("alpha"), keys.hop("bravo")}, {keys.hop("echo"), keys.hop("bravo")}}
	out, err := BuildMessage(rand.Reader, testNow, &Message{Destinations: []string{"x@example.test"}, Body: []byte("hi")}, false, 2,
		func(_, c int) ([]Hop, error) { return chains[c], nil })
	if err != nil {
		t.Fatal(err)
	}
	a, b := walk(t, ring, chains[0], out[0].Packet), walk(t, ring, chains[1], out[1].Packet)
	if a.PacketID != b.PacketID || a.MessageID != b.MessageID {
		t.Error("copies do not share the exit packet ID and message ID")
	}
	if bytes.Equal(out[0].Packet, out[1].Packet) {
		t.Error("copies are identical packets")
	}
	// A chain function that changes the exit is refused.
	_, err = BuildMessage(rand.Reader, testNow, &Message{Destinations: []string{"x@example.test"}}, false, 2,
		func(_, c int) ([]Hop, error) { return [][]Hop{{keys.hop("alpha")}, {keys.hop("echo")}}[c], nil })
	if err == nil {
		t.Error("copies with different exits were built")
	}
}
