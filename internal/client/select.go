package client

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/chain"
	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/packet"
	"github.com/mixgo/mixgo/pinger"
)

// ErrExitUnfit means the exit cannot deliver the message: it is too large
// for the exit's size limit, needs compression the exit lacks, or is a
// post through an exit that cannot post.
var ErrExitUnfit = errors.New("client: the exit cannot deliver this message")

// ErrCopiesFixed means several copies were asked for through a chain
// without a random hop: every copy would take the same path (Mixmaster
// refuses this too, §8.5).
var ErrCopiesFixed = errors.New("client: copies need a random hop in the chain")

// Message is what the exit must accept.
type Message struct {
	Post bool // posted to Usenet: the exit needs N
	// Size is the message as the exit delivers it (header lines and body),
	// compared with the exit's size limit (klen).
	Size int64
	// NeedCompress: the message fits into 255 packets only compressed, so
	// the exit needs C.
	NeedCompress bool
}

// Selector chooses the chains of a message.
type Selector struct {
	Pubring  *keyring.Pubring
	Stats    *pinger.List // nil: no statistics, so no reliability or latency limits
	Settings Settings
	Exclude  []string // starex.txt entries
	Now      time.Time
	Rand     io.Reader // nil: crypto/rand
}

// Options returns the chain selection options for m.
func (s *Selector) Options(m Message) chain.Options {
	st := s.Settings
	return chain.Options{
		MinRel:   limit(st.MinRel),
		RelFinal: limit(st.RelFinal),
		MinLat:   limit(st.MinLat),
		MaxLat:   limit(st.MaxLat),
		Distance: limit(st.Distance),
		Exclude:  s.Exclude,
		Broken:   BrokenChains(s.Stats),
		Stats:    ChainStats(s.Stats),
		Post:     m.Post,
		Rand:     s.Rand,
	}
}

// Unfit reasons: why a remailer cannot be the exit of a message, beyond
// the rules of package chain.
const (
	UnfitSize     = "size"     // the message exceeds its size limit (klen)
	UnfitCompress = "compress" // the message needs compression, it has no C
	UnfitPost     = "no-post"  // a named exit of a post that cannot post
)

// ExitProblem says why k cannot deliver m ("" if it can) and the reason.
func (s *Selector) ExitProblem(k *keyring.PublicKey, m Message) (reason, text string) {
	if lim := SizeLimit(s.Stats, k.Name); lim > 0 && m.Size > lim {
		return UnfitSize, fmt.Sprintf("%s delivers at most %d kB (klen%d), the message is %d kB",
			k.Name, lim/1024, lim/1024, (m.Size+1023)/1024)
	}
	if m.NeedCompress && !k.Caps.Compress() {
		return UnfitCompress, fmt.Sprintf("the message fits into %d packets only compressed and %s does not take compressed messages (no C)",
			packet.MaxChunks, k.Name)
	}
	if m.Post && !k.Caps.News() && !k.Caps.Middleman() {
		return UnfitPost, fmt.Sprintf("%s cannot post to Usenet (no N)", k.Name)
	}
	return "", ""
}

// Unfit lists the usable remailers with a key that cannot deliver m, by
// reason.
func (s *Selector) Unfit(m Message) map[string][]string {
	out := make(map[string][]string)
	for _, k := range s.Pubring.Usable(s.Now) {
		if k.Key == nil {
			continue // never chosen anyway
		}
		if r, _ := s.ExitProblem(k, m); r != "" && r != UnfitPost {
			out[r] = append(out[r], k.Name)
		}
	}
	return out
}

// describeUnfit says what Unfit found, for a person.
func describeUnfit(u map[string][]string, m Message) string {
	var parts []string
	if n := len(u[UnfitSize]); n > 0 {
		parts = append(parts, fmt.Sprintf("%d with a size limit below the message's %d kB", n, (m.Size+1023)/1024))
	}
	if n := len(u[UnfitCompress]); n > 0 {
		parts = append(parts, fmt.Sprintf("%d without compression, which the message needs to fit into %d packets", n, packet.MaxChunks))
	}
	return strings.Join(parts, ", ")
}

// exitTries bounds the draws that reject a named hop chosen as the exit
// while unfit (the other unfit remailers are not candidates).
const exitTries = 256

// placeholderName is the name of the stand-ins for random hops while the
// exit is chosen. No remailer's name is part of it, so excluding it (as a
// starex entry) excludes nothing else.
const placeholderName = "\x01\x02\x03"

// placeholder returns the i-th stand-in: a distinct remailer with a key of
// one header slot, like the slot an unfilled random hop counts.
func placeholder(i int) *keyring.PublicKey {
	n := new(big.Int).Lsh(big.NewInt(1), 1023)
	n.SetBit(n, 0, 1)
	k := &keyring.PublicKey{Name: placeholderName, Address: fmt.Sprintf("%s%d@placeholder.invalid", placeholderName, i),
		Key: &rsa.PublicKey{N: n, E: 65537}}
	k.KeyID[0], k.KeyID[1] = 0xff, byte(i)
	return k
}

// First chooses the first chain of a message for spec (as chain.Parse
// returns it) and so its exit. A random exit is chosen uniformly among the
// remailers that pass the chain rules and can deliver m.
func (s *Selector) First(spec []string, m Message) ([]*keyring.PublicKey, error) {
	opt := s.Options(m)
	if len(spec) == 0 {
		return nil, fmt.Errorf("%w: empty chain", chain.ErrSyntax)
	}
	if strings.TrimSpace(spec[len(spec)-1]) != chain.Random {
		c, err := chain.Select(s.Pubring, spec, s.Now, opt)
		if err != nil {
			return nil, err
		}
		if r, text := s.ExitProblem(c[len(c)-1], m); r != "" {
			return nil, fmt.Errorf("%w: %s", ErrExitUnfit, text)
		}
		return c, nil
	}
	unfit := s.Unfit(m)
	if len(unfit) == 0 {
		return chain.Select(s.Pubring, spec, s.Now, opt)
	}
	exit, err := s.chooseExit(spec, m, opt, unfit)
	if err != nil {
		return nil, err
	}
	opt.Exit = exit.Address
	return chain.Select(s.Pubring, spec, s.Now, opt)
}

// chooseExit draws the random exit of spec among the remailers that can
// deliver m. The unfit ones are made keyless, so chain selection never
// draws them while the statistics still count them (with fewer than 4
// listed the reliability limits would switch off); named hops keep their
// keys, and a draw ending at an unfit one is repeated. The other random
// hops are stand-ins while the exit is drawn, so the exit is subject to
// exactly the rules it faces in a whole selection, and the fit remailers
// left need not also fill the other hops.
func (s *Selector) chooseExit(spec []string, m Message, opt chain.Options, unfit map[string][]string) (*keyring.PublicKey, error) {
	var keys []*keyring.PublicKey
	hidden := make(map[*keyring.PublicKey]bool)
	for _, k := range s.Pubring.Keys() {
		if r, _ := s.ExitProblem(k, m); r != "" && r != UnfitPost && !s.named(spec, k) && k.Key != nil {
			c := *k
			c.Key = nil
			k = &c
			hidden[k] = true
		}
		keys = append(keys, k)
	}
	exitSpec := slices.Clone(spec)
	stand := 0
	for i := range exitSpec[:len(exitSpec)-1] {
		if strings.TrimSpace(exitSpec[i]) == chain.Random {
			p := placeholder(i)
			keys = append(keys, p)
			exitSpec[i] = p.Address
			stand++
		}
	}
	opt.Exclude = append(slices.Clone(opt.Exclude), placeholderName)
	ring := keyring.NewPubring(keys)
	for range exitTries {
		c, err := chain.Select(ring, exitSpec, s.Now, opt)
		var nc *chain.NoCandidateError
		switch {
		case errors.As(err, &nc):
			// Report the remailers, not the stand-ins, and the unfit
			// ones by their own reason rather than "no key".
			nc.Considered -= stand
			nc.Excluded[chain.ReasonStarex] -= stand
			for _, k := range ring.Usable(s.Now) {
				if hidden[k] {
					nc.Excluded[chain.ReasonNoKey]--
				}
			}
			return nil, fmt.Errorf("%w; besides, %s", nc, describeUnfit(unfit, m))
		case err != nil:
			return nil, err
		}
		exit := c[len(c)-1]
		if r, _ := s.ExitProblem(exit, m); r == "" || r == UnfitPost {
			return exit, nil
		}
	}
	return nil, fmt.Errorf("%w: no remailer qualifies as the exit: %s", chain.ErrNoCandidate, describeUnfit(unfit, m))
}

// named reports whether spec names k.
func (s *Selector) named(spec []string, k *keyring.PublicKey) bool {
	return slices.ContainsFunc(spec, func(e string) bool {
		e = strings.TrimSpace(e)
		return strings.EqualFold(e, k.Name) || strings.EqualFold(e, k.Address) ||
			(strings.HasPrefix(e, "@") && strings.Contains(strings.ToLower(k.Address), strings.ToLower(e)))
	})
}

// Next chooses another chain of the message (a copy or a chunk) ending at
// exit, the exit of the first.
func (s *Selector) Next(spec []string, m Message, exit *keyring.PublicKey) ([]*keyring.PublicKey, error) {
	opt := s.Options(m)
	opt.Exit = exit.Address
	return chain.Select(s.Pubring, spec, s.Now, opt)
}

// Chains hands out the chains of one message: the first chooses the
// exit, every later one is a fresh chain to the same exit. Chosen records
// them in the order handed out.
type Chains struct {
	Sel    *Selector
	Spec   []string
	Msg    Message
	Chosen [][]*keyring.PublicKey
	handed int // chains of Chosen handed out by Next
}

// NewChains checks spec against copies and returns the chain source.
func NewChains(sel *Selector, spec []string, m Message, copies int) (*Chains, error) {
	if copies > 1 && len(spec) > 1 && !chain.HasRandom(spec) {
		return nil, fmt.Errorf("%w: %d copies through %s would all take the same path; put a * in the chain",
			ErrCopiesFixed, copies, strings.Join(spec, ","))
	}
	return &Chains{Sel: sel, Spec: spec, Msg: m}, nil
}

// Exit returns the message's exit, choosing the first chain (which Next
// then hands out first) if none is chosen yet.
func (c *Chains) Exit() (*keyring.PublicKey, error) {
	if len(c.Chosen) == 0 {
		ch, err := c.Sel.First(c.Spec, c.Msg)
		if err != nil {
			return nil, err
		}
		c.Chosen = append(c.Chosen, ch)
	}
	first := c.Chosen[0]
	return first[len(first)-1], nil
}

// Next returns the next chain.
func (c *Chains) Next() ([]*keyring.PublicKey, error) {
	exit, err := c.Exit()
	if err != nil {
		return nil, err
	}
	if c.handed < len(c.Chosen) {
		c.handed++
		return c.Chosen[c.handed-1], nil
	}
	ch, err := c.Sel.Next(c.Spec, c.Msg, exit)
	if err != nil {
		return nil, err
	}
	c.Chosen = append(c.Chosen, ch)
	c.handed++
	return ch, nil
}

// ChainFunc adapts c to packet.BuildMessage.
func (c *Chains) ChainFunc() packet.ChainFunc {
	return func(chunk, copy int) ([]packet.Hop, error) {
		ch, err := c.Next()
		if err != nil {
			return nil, err
		}
		hops := make([]packet.Hop, len(ch))
		for i, k := range ch {
			hops[i] = k.Hop()
		}
		return hops, nil
	}
}

// Names returns the names of a chain, comma separated.
func Names(ch []*keyring.PublicKey) string {
	names := make([]string, len(ch))
	for i, k := range ch {
		names[i] = k.Name
	}
	return strings.Join(names, ",")
}

// HopsSpec returns the chain of n random hops.
func HopsSpec(n int) ([]string, error) {
	if n < 1 || n > chain.MaxEntries {
		return nil, fmt.Errorf("%w: %d hops, want 1 to %d", chain.ErrSyntax, n, chain.MaxEntries)
	}
	spec := make([]string, n)
	for i := range spec {
		spec[i] = chain.Random
	}
	return spec, nil
}
