package mix

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"sort"
	"time"

	"github.com/mixgo/mixgo/keyring"
)

// Key lifecycle (§14.4), run by the hourly maintenance:
//
//   - when no key stays valid beyond now + key_overlap, a new key of
//     key_bits with key_lifetime is generated, so that clients have the
//     new key from pingers long before the old one expires;
//   - a key past its expiry + key_grace is destroyed: removed from
//     secring.mix and from memory (until then it still decrypts packets
//     clients built while it was valid);
//   - secring.mix (every entry encrypted with the passphrase) and key.txt
//     (the newest key) are replaced atomically, mode 0600.

// keyGen makes a key; tests replace it to control dates.
var keyGen = keyring.Generate

// rotateKeys applies the lifecycle at now. It reports whether secring.mix
// changed.
func (n *Node) rotateKeys(now time.Time) (bool, error) {
	n.svc.keyMu.Lock()
	defer n.svc.keyMu.Unlock()
	n.mu.RLock()
	all := n.secring.Keys()
	n.mu.RUnlock()
	var keep, destroyed []*keyring.SecretKey
	for _, k := range all {
		if !k.Expires.IsZero() && now.After(k.Expires.Add(n.Cfg.KeyGrace)) {
			destroyed = append(destroyed, k)
			continue
		}
		keep = append(keep, k)
	}
	need := true
	for _, k := range keep {
		if !k.Created.After(now) && (k.Expires.IsZero() || k.Expires.After(now.Add(n.Cfg.KeyOverlap))) {
			need = false
		}
	}
	var fresh *keyring.SecretKey
	if need {
		var err error
		if fresh, err = keyGen(n.Cfg.KeyBits, now, n.Cfg.KeyLifetime); err != nil {
			return false, fmt.Errorf("generating a new key: %w", err)
		}
		keep = append(keep, fresh)
	}
	if fresh == nil && len(destroyed) == 0 {
		return false, nil
	}
	pass, err := n.passphrase()
	if err != nil {
		return false, err
	}
	if err := n.writeKeys(keep, pass, now); err != nil {
		return false, err
	}
	if fresh != nil {
		n.Log.Info("new key generated", "key_id", fmt.Sprintf("%x", fresh.KeyID[:]), "bits", n.Cfg.KeyBits,
			"expires", fresh.Expires.Format("2006-01-02"))
	}
	for _, k := range destroyed {
		n.Log.Info("expired key destroyed", "key_id", fmt.Sprintf("%x", k.KeyID[:]))
	}
	return true, nil
}

// writeKeys replaces secring.mix with keys and key.txt with the newest
// valid one, then makes them the node's keys.
func (n *Node) writeKeys(keys []*keyring.SecretKey, pass []byte, now time.Time) error {
	var sec bytes.Buffer
	for _, k := range keys {
		e, err := keyring.EncodeSecretKey(rand.Reader, k, pass)
		if err != nil {
			return fmt.Errorf("encrypting a key: %w", err)
		}
		sec.Write(e)
	}
	newest := newestKey(keys, now)
	if newest == nil {
		return fmt.Errorf("no valid key left to publish")
	}
	pub := newest.Public(n.Cfg.Name, n.Cfg.Address, "2:"+n.Cfg.ProtocolVersionStr, Capabilities(n.Cfg))
	// secring.mix first: a crash in between leaves key.txt naming a key
	// the remailer still holds.
	if err := writeFileAtomic(n.path(SecringFile), sec.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", SecringFile, err)
	}
	if err := writeFileAtomic(n.path(KeyFile), pub.KeyTxt(), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", KeyFile, err)
	}
	n.mu.Lock()
	n.secring = keyring.NewSecring(keys)
	n.own = pub
	n.mu.Unlock()
	n.refreshKeys()
	return nil
}

// newestKey is the key a remailer publishes (§14.4): of those valid at
// now, the one that expires last (no expiry counts as last).
func newestKey(keys []*keyring.SecretKey, now time.Time) *keyring.SecretKey {
	valid := validKeys(keys, now)
	if len(valid) == 0 {
		return nil
	}
	return valid[0]
}

// validKeys are the keys clients may use at now, newest (latest expiry)
// first.
func validKeys(keys []*keyring.SecretKey, now time.Time) []*keyring.SecretKey {
	var out []*keyring.SecretKey
	for _, k := range keys {
		if !k.Created.After(now) && (k.Expires.IsZero() || !now.After(k.Expires)) {
			out = append(out, k)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Expires, out[j].Expires
		if a.IsZero() != b.IsZero() {
			return a.IsZero()
		}
		return a.After(b)
	})
	return out
}

// serviceMaintenance is the hourly work of the services: the key
// lifecycle, a statistics sample, forgetting expired answers and tokens.
func (n *Node) serviceMaintenance(now time.Time) {
	if _, err := n.rotateKeys(now); err != nil {
		n.Log.Error("key rotation", "err", err)
	}
	if err := n.recordStats(now); err != nil {
		n.Log.Error("recording statistics", "err", err)
	}
	n.pruneServiceState(now)
}
