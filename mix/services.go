package mix

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mixgo/mixgo/abuse"
	"github.com/mixgo/mixgo/pool"
)

// Mail that is not a packet (§16): remailer-* requests are answered,
// complaints go to the abuse Maildir (with one automatic answer per
// sender and period), destination blocks need a confirmation, bounces and
// other mail go to the operator's mailbox. Every answer is limited per
// requester and in total, enters the pool as a KindMail item and leaves
// through the normal sender. An answer carries only its own header
// fields: From, To (the requester) and its own Subject.

// Operator files the services read (3.0.2d's names).
const (
	HelpFile         = "help.txt"
	AbuseFile        = "abuse.txt"
	BlockedFile      = "blocked.txt"
	RequestDir       = "requests"       // REQUESTDIR: remailer-<name> answers
	ServiceStateFile = "services.state" // answered senders (hashed), pending blocks
)

// Counter names of the services (counts only, no addresses).
const (
	reasonRequest      = "request-answered"
	reasonLimited      = "request-limited"
	reasonUnanswerable = "request-unanswerable"
	reasonUnknownReq   = "request-unknown"
	reasonComplaint    = "abuse-filed"
	reasonAbuseReply   = "abuse-answered"
	reasonBounce       = "bounce"
	reasonMailbox      = "mailbox-filed"
	reasonBlockAsked   = "dest-block-confirmation-sent"
	reasonBlockRefused = "dest-block-refused"
	reasonBlockPending = "dest-block-pending"
	reasonBlocked      = "dest-block-confirmed"
	reasonBadToken     = "dest-block-bad-token"
	reasonServices     = "services-unavailable"
)

// services is the node's state for non-packet mail, set up on first use.
type services struct {
	setupMu sync.Mutex
	ready   bool

	mu      sync.Mutex // one request at a time; guards state
	limiter *abuse.Limiter
	secret  []byte // keys the sender hashes of the state file
	state   abuse.State
	admin   *openpgp.Entity // nil: answers go unsigned
	adminMu sync.Mutex

	keyMu sync.Mutex // one key rotation at a time

	rules        atomic.Pointer[finalRules] // reloaded filter files; nil = n.final
	rulesChecked atomic.Int64
	rulesMu      sync.Mutex
	rulesStamp   string
}

// services sets up the state on first use: the state file, the limiter,
// the admin key (made now if the node has none) and a first statistics
// sample. A failed setup is tried again at the next use.
func (n *Node) services() (*services, error) {
	s := &n.svc
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if !s.ready {
		if err := n.setupServices(s); err != nil {
			return s, err
		}
		s.ready = true
	}
	return s, nil
}

func (n *Node) setupServices(s *services) error {
	pass, err := n.passphrase()
	if err != nil {
		return err
	}
	salt, err := os.ReadFile(filepath.Join(n.Dir, PoolSaltFile))
	if err != nil {
		return fmt.Errorf("reading the pool salt: %w", err)
	}
	m := hmac.New(sha256.New, pass)
	m.Write([]byte("mixd services state\x00"))
	m.Write(salt)
	s.secret = m.Sum(nil)
	s.limiter = abuse.NewLimiter(n.Cfg.ReplyLimitSender, n.Cfg.ReplyLimitTotal, n.Cfg.ReplyLimitWindow)
	if data, err := os.ReadFile(n.path(ServiceStateFile)); err == nil {
		if err := json.Unmarshal(data, &s.state); err != nil {
			n.Log.Error("services state unreadable, starting afresh", "err", err)
			s.state = abuse.State{}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := os.Stat(n.path(AdminSecretFile)); errors.Is(err, os.ErrNotExist) {
		pub, sec, err := generateAdminKey(n.Cfg, pass, n.Clock())
		if err != nil {
			return err
		}
		if err := writeFileAtomic(n.path(AdminSecretFile), sec, 0o600); err != nil {
			return err
		}
		if err := writeFileAtomic(n.path(AdminKeyFile), pub, 0o600); err != nil {
			return err
		}
		n.Log.Info("admin key generated")
	}
	if e, err := loadAdminKey(n.path(AdminSecretFile), pass); err != nil {
		n.Log.Error("admin key unusable: answers go unsigned", "err", err)
	} else {
		s.admin = e
	}
	if _, err := os.Stat(n.path(StatsFile)); errors.Is(err, os.ErrNotExist) {
		if err := n.recordStats(n.Clock()); err != nil {
			n.Log.Error("recording statistics", "err", err)
		}
	}
	return nil
}

// saveState writes the state file (under s.mu).
func (n *Node) saveState(s *services) error {
	data, err := json.Marshal(&s.state)
	if err != nil {
		return err
	}
	return writeFileAtomic(n.path(ServiceStateFile), data, 0o600)
}

func (n *Node) pruneServiceState(now time.Time) {
	s, err := n.services()
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.state.Replied) + len(s.state.Pending)
	s.state.Prune(now, n.Cfg.AbuseReplyPeriod)
	if len(s.state.Replied)+len(s.state.Pending) != before {
		if err := n.saveState(s); err != nil {
			n.Log.Error("writing the services state", "err", err)
		}
	}
}

// abuseAddrs are the addresses whose mail is a complaint: complaints (or
// abuse@ the domain) and the role addresses the SMTP ingress accepts.
func (n *Node) abuseAddrs() []string {
	var out []string
	if n.Cfg.Complaints != "" {
		out = append(out, n.Cfg.Complaints)
	}
	for _, p := range localParts {
		out = append(out, p+"@"+n.Cfg.Domain())
	}
	return out
}

// complaintsAddr is the address named for complaints.
func (n *Node) complaintsAddr() string {
	if n.Cfg.Complaints != "" {
		return n.Cfg.Complaints
	}
	return "abuse@" + n.Cfg.Domain()
}

// isRemailer reports addresses never answered nor blocked: the node's own
// ones and every known remailer's (answering them could loop).
func (n *Node) isRemailer(addr string) bool {
	a := strings.ToLower(addr)
	if a == strings.ToLower(n.Cfg.Address) || n.accepts(a) {
		return true
	}
	if kr := n.rules().cfg.KnownRemailers; kr != nil && kr(a) {
		return true
	}
	return false
}

// outgoingReply is an answer ready for the pool.
type outgoingReply struct {
	to   string // envelope recipient
	data []byte
}

// handleRequest deals with one stored mail that is not a packet.
func (n *Node) handleRequest(id pool.ID, raw []byte) error {
	s, err := n.services()
	if err != nil {
		// Kept: tried again at the next rescan.
		n.counts.Inc(reasonServices)
		return fmt.Errorf("services: %w", err)
	}
	now := n.Clock()
	m := abuse.Classify(raw, abuse.Addresses{Remailer: n.Cfg.Address, Abuse: n.abuseAddrs()})
	s.mu.Lock()
	replies, reason, err := n.serve(s, m, raw, now)
	s.mu.Unlock()
	if err != nil {
		// The mail stays stored and is tried again at the next rescan.
		return err
	}
	n.counts.Inc(reason)
	n.Log.Debug("non-packet mail", "kind", m.Kind.String(), "result", reason)
	if len(replies) > 0 {
		items := make([]pool.Item, len(replies))
		for i, r := range replies {
			items[i] = pool.Item{Kind: pool.KindMail, Dest: r.to, Data: r.data}
		}
		if err := n.Store.AddPool(now, items...); err != nil {
			return fmt.Errorf("queueing an answer: %w", err)
		}
		n.kickSender()
	}
	return n.Store.DropIncoming(id)
}

// serve decides what to do with a classified mail (under s.mu); it
// returns the answers to send and the counter to bump. An error means
// nothing was done and the mail is to be kept.
func (n *Node) serve(s *services, m abuse.Mail, raw []byte, now time.Time) ([]outgoingReply, string, error) {
	answerable := m.HasSender && !m.Automatic && !n.isRemailer(m.Sender.Addr)
	switch m.Kind {
	case abuse.Complaint:
		if _, err := abuse.Deliver(n.path(n.Cfg.AbuseMaildir), raw, n.Rand, now); err != nil {
			return nil, "", err
		}
		if !n.Cfg.AbuseAutoreply || !answerable {
			return nil, reasonComplaint, nil
		}
		key := abuse.SenderKey(s.secret, m.Sender.Addr)
		if !s.state.ReplyDue(key, now, n.Cfg.AbuseReplyPeriod) || !s.limiter.Allow(m.Sender.Addr, now) {
			return nil, reasonComplaint, nil
		}
		s.state.MarkReplied(key, now)
		if err := n.saveState(s); err != nil {
			return nil, "", err
		}
		r, err := n.infoReply(AbuseFile, abuse.DefaultAbuseText(n.Cfg.Name, n.Cfg.Address, n.Cfg.AbuseReplyPeriod), m.Sender, false, now)
		if err != nil {
			return nil, "", err
		}
		return []outgoingReply{r}, reasonAbuseReply, nil
	case abuse.Bounce:
		return nil, reasonBounce, n.fileMailbox(raw, now)
	case abuse.Request:
		if !answerable {
			return nil, reasonUnanswerable, nil
		}
		return n.answerRequest(s, m, now)
	case abuse.DestBlock:
		if !n.Cfg.DestinationBlock {
			return nil, reasonMailbox, n.fileMailbox(raw, now)
		}
		return n.askBlock(s, m, now)
	case abuse.Confirm:
		if m.Automatic {
			return nil, reasonUnanswerable, nil
		}
		return n.confirmBlock(s, m, now)
	}
	if n.Cfg.Mailbox == "" {
		return nil, reasonNotPacket, nil
	}
	return nil, reasonMailbox, n.fileMailbox(raw, now)
}

// fileMailbox keeps other mail for the operator, if a mailbox is set.
func (n *Node) fileMailbox(raw []byte, now time.Time) error {
	if n.Cfg.Mailbox == "" {
		return nil
	}
	_, err := abuse.Deliver(n.path(n.Cfg.Mailbox), raw, n.Rand, now)
	return err
}

// answerRequest answers a remailer-* request, within the limits.
func (n *Node) answerRequest(s *services, m abuse.Mail, now time.Time) ([]outgoingReply, string, error) {
	var subject string
	var body []byte
	sign := false
	switch m.Request {
	case "remailer-key":
		subject, body, sign = "Remailer key for "+n.Cfg.Name, n.keyAnswer(now), true
	case "remailer-conf":
		subject, body = "Capabilities of the "+n.Cfg.Name+" remailer", n.confAnswer()
	case "remailer-stats":
		text, err := n.statsAnswer(now)
		if err != nil {
			return nil, "", err
		}
		subject, body = "Statistics for the "+n.Cfg.Name+" remailer", text
	case "remailer-adminkey":
		key, err := os.ReadFile(n.path(AdminKeyFile))
		if err != nil {
			return nil, reasonUnknownReq, nil
		}
		subject, body = "Admin key for the "+n.Cfg.Name+" remailer", append(key, '\n')
	case "remailer-help":
		if !s.limiter.Allow(m.Sender.Addr, now) {
			return nil, reasonLimited, nil
		}
		r, err := n.infoReply(HelpFile, abuse.DefaultHelpText(n.Cfg.Name, n.Cfg.Address, n.complaintsAddr()), m.Sender, true, now)
		if err != nil {
			return nil, "", err
		}
		return []outgoingReply{r}, reasonRequest, nil
	default:
		// REQUESTDIR/<name>; the name is [a-z0-9-] only (abuse.RequestName).
		if _, err := os.Stat(n.path(filepath.Join(RequestDir, m.Request))); err != nil {
			return nil, reasonUnknownReq, nil
		}
		if !s.limiter.Allow(m.Sender.Addr, now) {
			return nil, reasonLimited, nil
		}
		r, err := n.infoReply(filepath.Join(RequestDir, m.Request), nil, m.Sender, false, now)
		if err != nil {
			return nil, "", err
		}
		return []outgoingReply{r}, reasonRequest, nil
	}
	if !s.limiter.Allow(m.Sender.Addr, now) {
		return nil, reasonLimited, nil
	}
	if sign {
		body = n.sign(body, now)
	}
	return []outgoingReply{n.reply(m.Sender, subject, body, nil)}, reasonRequest, nil
}

// reply renders an answer to a requester.
func (n *Node) reply(to abuse.Addr, subject string, body []byte, extra []abuse.Field) outgoingReply {
	r := abuse.Reply{FromName: n.Cfg.RemailerName, From: n.Cfg.Address, To: to.Display, Subject: subject, Extra: extra, Body: body}
	return outgoingReply{to: to.Addr, data: r.Bytes()}
}

// infoReply answers with an operator text file (def when it does not
// exist): its Subject, its text with DESTINATION-BLOCK lines expanded.
func (n *Node) infoReply(name string, def []byte, to abuse.Addr, sign bool, now time.Time) (outgoingReply, error) {
	text, err := os.ReadFile(n.path(name))
	if errors.Is(err, os.ErrNotExist) && def != nil {
		text, err = def, nil
	}
	if err != nil {
		return outgoingReply{}, err
	}
	info := abuse.ParseInfo(text)
	if info.Subject == "" {
		info.Subject = "Your mail to the " + n.Cfg.Name + " remailer"
	}
	body := abuse.Expand(info.Body, to.Addr)
	if sign {
		body = n.sign(body, now)
	}
	var extra []abuse.Field
	if name == AbuseFile {
		extra = []abuse.Field{{Name: "Auto-Submitted", Value: "auto-replied"}}
	}
	return n.reply(to, info.Subject, body, extra), nil
}

// sign clear-signs an answer with the admin key when sign_replies is on
// and the key is usable; otherwise the text goes as it is.
func (n *Node) sign(body []byte, now time.Time) []byte {
	if !n.Cfg.SignReplies || n.svc.admin == nil {
		return body
	}
	n.svc.adminMu.Lock()
	defer n.svc.adminMu.Unlock()
	signed, err := clearsignText(n.svc.admin, body, now)
	if err != nil {
		n.Log.Error("signing an answer", "err", err)
		return body
	}
	return signed
}

// askBlock answers a destination-block request: a confirmation mail with
// a one-time token goes to the address to block, never to the requester,
// so nobody can block someone else's address.
func (n *Node) askBlock(s *services, m abuse.Mail, now time.Time) ([]outgoingReply, string, error) {
	addr := m.Block
	if addr == "" || m.Automatic || n.isRemailer(addr) {
		return nil, reasonBlockRefused, nil
	}
	if n.destBlocked(addr) {
		return nil, reasonBlockPending, nil
	}
	if s.state.PendingFor(addr, now) {
		return nil, reasonBlockPending, nil
	}
	to, ok := abuse.ParseMailbox(addr)
	if !ok || !s.limiter.Allow(addr, now) {
		return nil, reasonLimited, nil
	}
	tok, err := abuse.NewToken(n.Rand)
	if err != nil {
		return nil, "", err
	}
	if !s.state.AddPending(abuse.TokenHash(tok), addr, now.Add(n.Cfg.DestBlockTTL)) {
		return nil, reasonLimited, nil
	}
	if err := n.saveState(s); err != nil {
		return nil, "", err
	}
	c := abuse.ConfirmText(n.Cfg.Name, n.Cfg.Address, addr, tok, n.Cfg.DestBlockTTL)
	extra := []abuse.Field{{Name: "Auto-Submitted", Value: "auto-replied"}}
	return []outgoingReply{n.reply(to, c.Subject, c.Body, extra)}, reasonBlockAsked, nil
}

// confirmBlock takes a token back: the first pending one found blocks its
// address (dest.blk, effective at once) and the address is told so.
func (n *Node) confirmBlock(s *services, m abuse.Mail, now time.Time) ([]outgoingReply, string, error) {
	for _, tok := range m.Tokens {
		addr, ok := s.state.TakePending(abuse.TokenHash(tok), now)
		if !ok {
			continue
		}
		if _, err := BlockDestination(n.Dir, addr); err != nil {
			s.state.AddPending(abuse.TokenHash(tok), addr, now.Add(n.Cfg.DestBlockTTL))
			return nil, "", err
		}
		if err := n.saveState(s); err != nil {
			n.Log.Error("writing the services state", "err", err)
		}
		n.reloadRules(true)
		n.Log.Info("destination block confirmed")
		to, ok := abuse.ParseMailbox(addr)
		if !ok || !s.limiter.Allow(addr, now) {
			return nil, reasonBlocked, nil
		}
		r, err := n.infoReply(BlockedFile, abuse.DefaultBlockedText(n.Cfg.Name), to, false, now)
		if err != nil {
			return nil, reasonBlocked, nil
		}
		return []outgoingReply{r}, reasonBlocked, nil
	}
	return nil, reasonBadToken, nil
}

// serviceFiles are what Init and the Mixmaster import write for the
// services: the admin key pair, help.txt, abuse.txt and the first
// statistics sample.
func serviceFiles(cfg *Config, pass []byte, now time.Time) ([]struct {
	name string
	data []byte
}, error) {
	pub, sec, err := generateAdminKey(cfg, pass, now)
	if err != nil {
		return nil, err
	}
	complaints := cfg.Complaints
	if complaints == "" {
		complaints = "abuse@" + cfg.Domain()
	}
	return []struct {
		name string
		data []byte
	}{
		{AdminKeyFile, pub},
		{AdminSecretFile, sec},
		{HelpFile, abuse.DefaultHelpText(cfg.Name, cfg.Address, complaints)},
		{AbuseFile, abuse.DefaultAbuseText(cfg.Name, cfg.Address, cfg.AbuseReplyPeriod)},
		{StatsFile, []byte(statSample{t: now.Unix()}.line())},
	}, nil
}
