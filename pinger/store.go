package pinger

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The pinger's store: one bbolt file holding everything that must survive a
// restart. Every Update commits with fsync (bbolt's default), so a ping
// recorded as received stays received.
//
// Buckets:
//
//	meta       "secret" → 32 random bytes keying the ping tokens
//	pings      sent (8 bytes, Unix ns, big-endian) ‖ nonce (16) → PingRecord
//	remailers  lower-case address → RemailerRecord
//	requests   request ID (8 bytes) → Request (remailer-key/-conf asked)
//	plan       due (8 bytes, Unix ns) ‖ random (8) → PlanItem
//	peers      URL → PeerList (other pingers' mlist2.txt)
var (
	bMeta      = []byte("meta")
	bPings     = []byte("pings")
	bRemailers = []byte("remailers")
	bRequests  = []byte("requests")
	bPlan      = []byte("plan")
	bPeers     = []byte("peers")
	kSecret    = []byte("secret")
)

// Errors of the store; test with errors.Is.
var (
	// ErrUnknownPing means a returned token names no ping we sent (or one
	// already expired).
	ErrUnknownPing = errors.New("pinger: no such ping")
	// ErrDuplicate means the ping already came back: a replay or a
	// duplicate delivery, which must not count twice.
	ErrDuplicate = errors.New("pinger: ping already received")
	// ErrUnknownRequest means a reply names no request we sent.
	ErrUnknownRequest = errors.New("pinger: no such request")
)

// NonceSize is the length of a ping's nonce.
const NonceSize = 16

// PingRecord is one ping sent, single (one remailer) or chain (two).
type PingRecord struct {
	Nonce     [NonceSize]byte `json:"-"`
	Remailers []string        `json:"remailers"` // addresses, in sending order
	KeyIDs    []string        `json:"keys"`      // hex key IDs, same order
	Sent      time.Time       `json:"sent"`
	Received  time.Time       `json:"received,omitzero"` // zero while outstanding
}

// Chain reports whether this is a chain ping.
func (r PingRecord) Chain() bool { return len(r.Remailers) > 1 }

// KeyRecord is one Mix key a remailer advertised, as key.txt text.
type KeyRecord struct {
	Text []byte    `json:"text"`
	Seen time.Time `json:"seen"` // last advertised (or imported)
}

// RemailerRecord is what the pinger knows about one remailer.
type RemailerRecord struct {
	Address string `json:"address"`
	Name    string `json:"name"`
	// Capstring is the $remailer line of the latest conf or key reply;
	// empty when only a key is known (seeded).
	Capstring       string      `json:"capstring,omitempty"`
	RemailerType    string      `json:"type,omitempty"` // "Mixmaster 3.0.2d"
	Keys            []KeyRecord `json:"keys,omitempty"`
	Middleman       bool        `json:"middleman,omitempty"`
	FilteredHeaders []string    `json:"filtered_headers,omitempty"` // header.blk rules it announced
	AllowedHeaders  []string    `json:"allowed_headers,omitempty"`
	ConfAt          time.Time   `json:"conf_at,omitzero"`
	KeyAt           time.Time   `json:"key_at,omitzero"`
	Seeded          bool        `json:"seeded,omitempty"` // keys imported from a file, not asked
}

// Request is one remailer-key or remailer-conf request sent.
type Request struct {
	Address string    `json:"address"`
	Kind    string    `json:"kind"` // "key" or "conf"
	Sent    time.Time `json:"sent"`
}

// PlanItem is one planned action: a ping, a chain ping or a request.
type PlanItem struct {
	Kind    string   `json:"kind"`    // "ping", "chain", "key", "conf"
	Targets []string `json:"targets"` // addresses
}

// PeerList is another pinger's list as last fetched.
type PeerList struct {
	Fetched time.Time `json:"fetched"`
	Data    []byte    `json:"data"`
}

// Store is the pinger's bbolt file.
type Store struct {
	db *bolt.DB
}

// OpenStore opens (or creates) the store at path. The file is locked while
// open: a second process fails after a short wait.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("pinger: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bMeta, bPings, bRemailers, bRequests, bPlan, bPeers} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if tx.Bucket(bMeta).Get(kSecret) == nil {
			secret := make([]byte, 32)
			if _, err := io.ReadFull(rand.Reader, secret); err != nil {
				return err
			}
			return tx.Bucket(bMeta).Put(kSecret, secret)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("pinger: initialising %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Secret returns the 32-byte key of the ping tokens, made when the store
// was created. It never leaves the store file.
func (s *Store) Secret() ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bMeta).Get(kSecret)
		if len(v) != 32 {
			return fmt.Errorf("pinger: store secret is %d bytes, want 32", len(v))
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

func timeKey(t time.Time, suffix []byte) []byte {
	k := make([]byte, 8, 8+len(suffix))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, suffix...)
}

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
}

// AddPing records a ping about to be sent.
func (s *Store) AddPing(r PingRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bPings).Put(timeKey(r.Sent, r.Nonce[:]), v)
	})
}

// MarkReceived records that the ping sent at sent with nonce came back at
// at. It fails with ErrUnknownPing or ErrDuplicate; a ping counts once.
func (s *Store) MarkReceived(sent time.Time, nonce [NonceSize]byte, at time.Time) (PingRecord, error) {
	var r PingRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPings)
		k := timeKey(sent, nonce[:])
		v := b.Get(k)
		if v == nil {
			return ErrUnknownPing
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("pinger: stored ping: %w", err)
		}
		r.Nonce = nonce
		if !r.Received.IsZero() {
			return ErrDuplicate
		}
		r.Received = at
		nv, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put(k, nv)
	})
	return r, err
}

// Pings returns every ping sent at or after since, oldest first.
func (s *Store) Pings(since time.Time) ([]PingRecord, error) {
	var out []PingRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPings).Cursor()
		for k, v := c.Seek(timeKey(since, nil)); k != nil; k, v = c.Next() {
			if len(k) != 8+NonceSize {
				continue
			}
			var r PingRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("pinger: stored ping: %w", err)
			}
			copy(r.Nonce[:], k[8:])
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// ExpirePings deletes the pings sent before t.
func (s *Store) ExpirePings(t time.Time) (int, error) {
	return s.expire(bPings, t)
}

func (s *Store) expire(bucket []byte, t time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.First(); k != nil && len(k) >= 8 && keyTime(k).Before(t); k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// PutRemailer stores (replaces) a remailer's record.
func (s *Store) PutRemailer(r RemailerRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bRemailers).Put([]byte(strings.ToLower(r.Address)), v)
	})
}

// UpdateRemailer reads, changes and writes back one remailer's record in
// one transaction; f gets a zero record (with Address set) if none exists.
func (s *Store) UpdateRemailer(address string, f func(*RemailerRecord) error) error {
	key := []byte(strings.ToLower(address))
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRemailers)
		r := RemailerRecord{Address: address}
		if v := b.Get(key); v != nil {
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("pinger: stored remailer: %w", err)
			}
		}
		if err := f(&r); err != nil {
			return err
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put(key, v)
	})
}

// Remailers returns every remailer record, by address.
func (s *Store) Remailers() ([]RemailerRecord, error) {
	var out []RemailerRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bRemailers).ForEach(func(k, v []byte) error {
			var r RemailerRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("pinger: stored remailer: %w", err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// AddRequest records a request and returns its ID (random, 8 bytes).
func (s *Store) AddRequest(r Request) ([8]byte, error) {
	var id [8]byte
	if _, err := io.ReadFull(rand.Reader, id[:]); err != nil {
		return id, err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return id, err
	}
	return id, s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bRequests).Put(id[:], v)
	})
}

// Request returns the request with this ID.
func (s *Store) Request(id [8]byte) (Request, error) {
	var r Request
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bRequests).Get(id[:])
		if v == nil {
			return ErrUnknownRequest
		}
		return json.Unmarshal(v, &r)
	})
	return r, err
}

// Requests returns every stored request.
func (s *Store) Requests() (map[[8]byte]Request, error) {
	out := map[[8]byte]Request{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bRequests).ForEach(func(k, v []byte) error {
			var r Request
			if len(k) != 8 || json.Unmarshal(v, &r) != nil {
				return nil
			}
			out[[8]byte(k)] = r
			return nil
		})
	})
	return out, err
}

// ExpireRequests deletes requests sent before t.
func (s *Store) ExpireRequests(t time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRequests)
		var old [][]byte
		b.ForEach(func(k, v []byte) error {
			var r Request
			if json.Unmarshal(v, &r) != nil || r.Sent.Before(t) {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// AddPlan stores actions to take at their due times.
func (s *Store) AddPlan(due []time.Time, items []PlanItem) error {
	if len(due) != len(items) {
		return fmt.Errorf("pinger: %d times for %d plan items", len(due), len(items))
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPlan)
		for i, it := range items {
			v, err := json.Marshal(it)
			if err != nil {
				return err
			}
			var r [8]byte
			if _, err := io.ReadFull(rand.Reader, r[:]); err != nil {
				return err
			}
			if err := b.Put(timeKey(due[i], r[:]), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// TakeDue removes and returns up to max planned items due at or before
// now, earliest first, with their due times. An item taken and then lost
// in a crash is simply not done: a missing ping is not a promise broken.
func (s *Store) TakeDue(now time.Time, max int) ([]time.Time, []PlanItem, error) {
	var due []time.Time
	var items []PlanItem
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPlan).Cursor()
		for k, v := c.First(); k != nil && len(items) < max; k, v = c.First() {
			if len(k) < 8 || keyTime(k).After(now) {
				break
			}
			var it PlanItem
			if err := json.Unmarshal(v, &it); err == nil {
				due = append(due, keyTime(k))
				items = append(items, it)
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	return due, items, err
}

// NextDue returns the earliest planned time, or false if nothing is planned.
func (s *Store) NextDue() (time.Time, bool) {
	var t time.Time
	ok := false
	s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bPlan).Cursor().First(); len(k) >= 8 {
			t, ok = keyTime(k), true
		}
		return nil
	})
	return t, ok
}

// PutPeer stores another pinger's list.
func (s *Store) PutPeer(url string, p PeerList) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bPeers).Put([]byte(url), v)
	})
}

// Peers returns the stored lists of other pingers, by URL.
func (s *Store) Peers() (map[string]PeerList, error) {
	out := map[string]PeerList{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bPeers).ForEach(func(k, v []byte) error {
			var p PeerList
			if err := json.Unmarshal(v, &p); err != nil {
				return nil
			}
			out[string(k)] = p
			return nil
		})
	})
	return out, err
}
