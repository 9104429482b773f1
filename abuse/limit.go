package abuse

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Limiter bounds answers per requester and in total, so that forged
// requests cannot make the remailer mail-bomb anyone: token buckets of
// PerSender and Total answers that refill evenly over Window. It keeps no
// more than maxSenders requesters; full buckets are forgotten first.
type Limiter struct {
	PerSender, Total int
	Window           time.Duration

	mu      sync.Mutex
	total   *bucket
	senders map[string]*bucket
}

const maxSenders = 4096

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter; perSender and total must be ≥ 1 and window
// > 0 (Config.Validate checks).
func NewLimiter(perSender, total int, window time.Duration) *Limiter {
	return &Limiter{PerSender: perSender, Total: total, Window: window, senders: map[string]*bucket{}}
}

func (b *bucket) refill(capacity int, window time.Duration, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens += float64(capacity) * float64(el) / float64(window)
		if b.tokens > float64(capacity) {
			b.tokens = float64(capacity)
		}
	}
	b.at = now
}

// Allow takes one answer for sender (compared in lower case) at now and
// reports whether it may be sent. A refused answer takes nothing.
func (l *Limiter) Allow(sender string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total == nil {
		l.total = &bucket{tokens: float64(l.Total), at: now}
	}
	l.total.refill(l.Total, l.Window, now)
	key := Key(sender)
	b := l.senders[key]
	if b == nil {
		b = &bucket{tokens: float64(l.PerSender), at: now}
	}
	b.refill(l.PerSender, l.Window, now)
	if l.total.tokens < 1 || b.tokens < 1 {
		return false
	}
	l.total.tokens--
	b.tokens--
	if l.senders[key] == nil {
		if len(l.senders) >= maxSenders {
			l.sweep(now)
		}
		if len(l.senders) >= maxSenders {
			// Still full of recent requesters: the total bucket bounds
			// the harm; forget an arbitrary eighth, so that a flood of
			// new senders does not sweep on every answer.
			drop := maxSenders / 8
			for k := range l.senders {
				if drop == 0 {
					break
				}
				delete(l.senders, k)
				drop--
			}
		}
		l.senders[key] = b
	}
	return true
}

// sweep forgets requesters whose bucket has refilled.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.senders {
		if now.Sub(b.at) >= l.Window {
			delete(l.senders, k)
		}
	}
}

// SenderKey is how a state file records an address: a keyed hash, so the
// file does not list who complained or asked.
func SenderKey(secret []byte, addr string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(Key(addr)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Pending is a destination block waiting for its confirmation.
type Pending struct {
	Addr    string `json:"addr"`
	Expires int64  `json:"expires"` // Unix seconds
}

// MaxPending bounds the unconfirmed requests kept; more are refused.
const MaxPending = 1000

// State is what the services remember across restarts: when each sender
// last got an automatic abuse answer, and the unconfirmed destination
// blocks by token hash.
type State struct {
	Replied map[string]int64   `json:"replied"`
	Pending map[string]Pending `json:"pending"`
}

func (s *State) init() {
	if s.Replied == nil {
		s.Replied = map[string]int64{}
	}
	if s.Pending == nil {
		s.Pending = map[string]Pending{}
	}
}

// ReplyDue reports whether the sender with this key may get an automatic
// answer at now: none in the last period.
func (s *State) ReplyDue(key string, now time.Time, period time.Duration) bool {
	s.init()
	last, ok := s.Replied[key]
	return !ok || !now.Before(time.Unix(last, 0).Add(period))
}

// MarkReplied records an automatic answer to key at now.
func (s *State) MarkReplied(key string, now time.Time) {
	s.init()
	s.Replied[key] = now.Unix()
}

// Prune forgets answers older than period and expired requests.
func (s *State) Prune(now time.Time, period time.Duration) {
	s.init()
	for k, t := range s.Replied {
		if !now.Before(time.Unix(t, 0).Add(period)) {
			delete(s.Replied, k)
		}
	}
	for k, p := range s.Pending {
		if now.Unix() >= p.Expires {
			delete(s.Pending, k)
		}
	}
}

// PendingFor reports whether addr has an unexpired unconfirmed request:
// a second request then sends no second confirmation.
func (s *State) PendingFor(addr string, now time.Time) bool {
	s.init()
	for _, p := range s.Pending {
		if Key(p.Addr) == Key(addr) && now.Unix() < p.Expires {
			return true
		}
	}
	return false
}

// AddPending records an unconfirmed request; false when MaxPending are
// waiting already.
func (s *State) AddPending(tokenHash, addr string, expires time.Time) bool {
	s.init()
	if len(s.Pending) >= MaxPending {
		return false
	}
	s.Pending[tokenHash] = Pending{Addr: addr, Expires: expires.Unix()}
	return true
}

// TakePending consumes the request of a token hash: a token confirms once.
func (s *State) TakePending(tokenHash string, now time.Time) (addr string, ok bool) {
	s.init()
	p, ok := s.Pending[tokenHash]
	if !ok {
		return "", false
	}
	delete(s.Pending, tokenHash)
	if now.Unix() >= p.Expires {
		return "", false
	}
	return p.Addr, true
}
