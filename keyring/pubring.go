package keyring

import (
	"fmt"
	"strings"
	"time"
)

// Pubring is a client's set of remailer public keys, as read from
// pubring.mix or type2.list. It may list a remailer more than once (old and
// new keys); Lookup and Usable pick one key per remailer (§14.5).
type Pubring struct {
	keys []*PublicKey
}

// NewPubring returns a keyring holding keys (nil entries are dropped).
func NewPubring(keys []*PublicKey) *Pubring {
	p := &Pubring{keys: make([]*PublicKey, 0, len(keys))}
	for _, k := range keys {
		if k != nil {
			p.keys = append(p.keys, k)
		}
	}
	return p
}

// Keys returns every key, in the order given to NewPubring.
func (p *Pubring) Keys() []*PublicKey {
	return append([]*PublicKey(nil), p.keys...)
}

// Lookup returns the key a client should use for the remailer with this
// name or address (compared case-insensitively) at now. Keys not valid at
// now are skipped; among the rest the §14.5 rule chooses. The error wraps
// ErrUnknownRemailer when nothing lists the remailer and ErrNoValidKey when
// none of its keys is valid at now.
func (p *Pubring) Lookup(nameOrAddress string, now time.Time) (*PublicKey, error) {
	q := strings.TrimSpace(nameOrAddress)
	var best *PublicKey
	listed := 0
	for _, k := range p.keys {
		if !strings.EqualFold(k.Name, q) && !strings.EqualFold(k.Address, q) {
			continue
		}
		listed++
		if k.ValidAt(now) && (best == nil || preferred(k, best)) {
			best = k
		}
	}
	switch {
	case listed == 0:
		return nil, fmt.Errorf("%w %q (not in the key ring)", ErrUnknownRemailer, nameOrAddress)
	case best == nil:
		return nil, fmt.Errorf("%w %q: all %d listed keys are expired or not yet valid on %s",
			ErrNoValidKey, nameOrAddress, listed, now.UTC().Format(time.DateOnly))
	}
	return best, nil
}

// Usable returns one key per remailer (same name and address, compared
// case-insensitively) that is valid at now, chosen by the §14.5 rule, in
// the order the remailers first appear.
func (p *Pubring) Usable(now time.Time) []*PublicKey {
	var out []*PublicKey
	index := make(map[string]int) // remailer → position in out
	for _, k := range p.keys {
		if !k.ValidAt(now) {
			continue
		}
		id := strings.ToLower(k.Name) + "\x00" + strings.ToLower(k.Address)
		i, seen := index[id]
		if !seen {
			index[id] = len(out)
			out = append(out, k)
			continue
		}
		if preferred(k, out[i]) {
			out[i] = k
		}
	}
	return out
}

// preferred reports whether a should replace b as the key of a remailer
// (§14.5): the larger key wins; with equal sizes the one that expires
// sooner wins (a key without expiry counts as expiring last). Both keys are
// already known to be valid, so "sooner" never picks an expired key. Ties
// keep b, the earlier entry.
func preferred(a, b *PublicKey) bool {
	if ab, bb := a.Bits(), b.Bits(); ab != bb {
		return ab > bb
	}
	switch {
	case a.Expires.IsZero():
		return false
	case b.Expires.IsZero():
		return true
	}
	return a.Expires.Before(b.Expires)
}
