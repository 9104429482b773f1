package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
)

// maxInput bounds what decode reads: a packet e-mail is about 28 KB.
const maxInput = 4 << 20

func cmdDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("mix packet decode", stderr)
	secring := fs.String("secring", "", "secret key ring (secring.mix) `file`")
	passFile := fs.String("passphrase-file", "", "`file` holding the secring passphrase (empty passphrase if absent)")
	nextFile := fs.String("next", "", "write the next-hop packet of an intermediate packet raw to `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secring == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: mix packet decode --secring FILE [--passphrase-file FILE] [--next FILE] < input", errUsage)
	}
	ring, passErr, err := loadSecring(*secring, *passFile)
	if err != nil {
		return err
	}
	input, err := io.ReadAll(io.LimitReader(stdin, maxInput+1))
	if err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	if len(input) > maxInput {
		return fmt.Errorf("input larger than %d bytes", maxInput)
	}
	pkt, err := packetOf(input)
	if err != nil {
		return err
	}
	res, err := packet.Process(ring, pkt, randReader)
	if errors.Is(err, packet.ErrUnknownKey) && passErr != nil {
		return fmt.Errorf("%w (and the secring has keys that did not decrypt: %v)", err, passErr)
	}
	if err != nil {
		return err
	}
	out, err := describe(res)
	if err != nil {
		return err
	}
	if res.Type == packet.TypeIntermediate && *nextFile != "" {
		if err := os.WriteFile(*nextFile, res.Packet, 0o600); err != nil {
			return fmt.Errorf("writing next packet: %w", err)
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// loadSecring reads a secring; passErr reports entries whose passphrase was
// wrong, so that an "unknown key" can say why.
func loadSecring(path, passFile string) (ring *keyring.Secring, passErr, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading secring: %w", err)
	}
	var pass []byte
	if passFile != "" {
		if pass, err = os.ReadFile(passFile); err != nil {
			return nil, nil, fmt.Errorf("reading passphrase: %w", err)
		}
		pass = []byte(strings.TrimRight(string(pass), "\r\n"))
	}
	keys, errs := keyring.ParseSecring(data, pass)
	for _, e := range errs {
		if errors.Is(e, keyring.ErrPassphrase) {
			passErr = e
		}
	}
	if len(keys) == 0 {
		if passErr != nil {
			return nil, nil, fmt.Errorf("bad passphrase: %w", passErr)
		}
		if len(errs) > 0 {
			return nil, nil, fmt.Errorf("secring: %w", errs[0])
		}
		return nil, nil, errors.New("secring holds no key")
	}
	return keyring.NewSecring(keys), passErr, nil
}

// packetOf accepts a raw packet or an e-mail carrying one.
func packetOf(input []byte) ([]byte, error) {
	if len(input) == packet.PacketSize {
		return input, nil
	}
	pkts, err := packet.Dearmor(input)
	if errors.Is(err, packet.ErrNotPacket) && (bytes.IndexByte(input, 0) >= 0 || !utf8.Valid(input)) {
		// Binary input is meant as a raw packet, of the wrong size.
		return nil, fmt.Errorf("%w: %d bytes of binary input", packet.ErrLength, len(input))
	}
	if err != nil {
		return nil, err
	}
	if len(pkts) != 1 {
		return nil, fmt.Errorf("%w: the mail carries %d packets, decode takes one", packet.ErrArmor, len(pkts))
	}
	return pkts[0], nil
}

// describe builds the JSON object 'mix packet decode' prints: the fields
// every type has, then the type's own (see issue #3 for the contract).
func describe(r *packet.Result) (map[string]any, error) {
	d := map[string]any{
		"key_id":         hex.EncodeToString(r.KeyID[:]),
		"packet_id":      hex.EncodeToString(r.PacketID[:]),
		"timestamp_days": int(r.Days),
	}
	switch r.Type {
	case packet.TypeIntermediate:
		d["type"] = "intermediate"
		d["next_hop"] = r.NextHop
		return d, nil
	case packet.TypeChunk:
		d["type"] = "chunk"
		d["message_id"] = hex.EncodeToString(r.MessageID[:])
		d["chunk"], d["chunks"] = r.Chunk, r.Chunks
		return d, nil
	}
	d["message_id"] = hex.EncodeToString(r.MessageID[:])
	data, err := packet.DecodePayload(r.Payload)
	if err != nil {
		return nil, err
	}
	msg, err := packet.ParseMessage(data)
	if err != nil {
		return nil, err
	}
	d["type"] = "final"
	if msg.IsDummy() {
		d["type"] = "dummy"
	}
	d["destinations"] = nonNil(msg.Destinations)
	d["headers"] = nonNil(msg.Headers)
	d["body"] = string(msg.Body)
	return d, nil
}

// nonNil makes empty lists print as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
