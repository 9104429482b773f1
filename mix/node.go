// Package mix is the remailer engine: it joins the packet codec, the keys
// and the durable pool into a node that takes mail in (SMTP or a pipe),
// decrypts packets, mixes them and sends them on or delivers them.
//
// Stages: ingress stores the raw mail durably (pool.AddIncoming) before
// anything answers "accepted"; workers decrypt incoming entries and commit
// the result together with the packet ID in one transaction (pool.Accept);
// the pool round (strategy) moves entries to the outgoing queue; the sender
// delivers them and removes each only once the next hop accepted it.
//
// Anonymity rules kept throughout: no log line at the default level names
// an address, a packet or message ID or a per-message time; entries are
// stored under random IDs and re-sealed between stages.
package mix

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mixgo/mixgo/internal/counter"
	"github.com/mixgo/mixgo/keyring"
	"github.com/mixgo/mixgo/pool"
)

// Files in a node's directory.
const (
	SecringFile  = "secring.mix"
	KeyFile      = "key.txt"
	PubringFile  = "pubring.mix"
	Type2File    = "type2.list"
	PoolFile     = "pool.db"
	PoolSaltFile = "pool.salt"
	ControlFile  = "control.sock"
)

// PassphraseEnv overrides the passphrase file; PassphraseFileEnv names
// another file (e.g. a systemd credential).
const (
	PassphraseEnv     = "MIXD_PASSPHRASE"
	PassphraseFileEnv = "MIXD_PASSPHRASE_FILE"
)

// Node is one remailer: its configuration, keys and store.
type Node struct {
	Dir   string
	Cfg   *Config
	Log   *slog.Logger
	Store *pool.Store
	Clock func() time.Time
	Rand  io.Reader

	final *finalRules

	mu      sync.RWMutex
	secring *keyring.Secring // every key of secring.mix
	usable  *keyring.Secring // those usable now (refreshed by refreshKeys)
	pubring *keyring.Pubring // other remailers (pubring.mix), for re-routing and dummies
	own     *keyring.PublicKey

	counts counter.Set   // events by reason, logged periodically
	svc    services      // non-packet mail, key lifecycle, reloaded filter files (services.go)
	work   *workState    // nil unless Run is serving
	cpu    chan struct{} // one token per decryption allowed at once (workers)
}

// Counts returns this process's event counts by reason.
func (n *Node) Counts() map[string]uint64 { return n.counts.Snapshot() }

// Open loads the node in dir and opens its store. The store file is locked
// while open: only one process at a time.
func Open(dir string, log *slog.Logger) (*Node, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.level()}))
	}
	n := &Node{Dir: dir, Cfg: cfg, Log: log, Clock: time.Now, Rand: rand.Reader}
	n.cpu = make(chan struct{}, n.workers())
	pass, err := n.passphrase()
	if err != nil {
		return nil, err
	}
	if err := n.loadKeys(pass); err != nil {
		return nil, err
	}
	if n.final, err = loadFinalRules(dir, cfg); err != nil {
		return nil, err
	}
	addrs := map[string]bool{strings.ToLower(cfg.Address): true}
	for _, k := range n.pubring.Keys() {
		addrs[strings.ToLower(k.Address)] = true
	}
	n.final.setRemailers(addrs)
	sealer, err := poolSealer(dir, pass)
	if err != nil {
		return nil, err
	}
	strategy, err := cfg.poolStrategy()
	if err != nil {
		return nil, err
	}
	st, err := pool.Open(filepath.Join(dir, PoolFile), pool.Options{
		Sealer:       sealer,
		Strategy:     strategy,
		RetryBase:    cfg.RetryBase,
		RetryMax:     cfg.RetryMax,
		GiveUp:       cfg.GiveUp,
		ChunkExpiry:  cfg.ChunkExpiry,
		ReplayExpiry: cfg.ReplayExpiry,
		LockTimeout:  2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the pool: %w", err)
	}
	n.Store = st
	return n, nil
}

// workers is the number of decryptions run at once (workers, default one
// per CPU).
func (n *Node) workers() int {
	if n.Cfg.Workers > 0 {
		return n.Cfg.Workers
	}
	return runtime.NumCPU()
}

// pipelineDepth is how many entries per worker are between decryption and
// their commit at once: while some wait for the shared commit (fsync),
// others decrypt, so the cores stay busy and commits stay large.
const pipelineDepth = 128

// decrypting runs f holding one of the workers' tokens.
func (n *Node) decrypting(f func()) {
	if n.cpu == nil { // a Node not made by Open
		f()
		return
	}
	n.cpu <- struct{}{}
	defer func() { <-n.cpu }()
	f()
}

// Close closes the store.
func (n *Node) Close() error { return n.Store.Close() }

func (c *Config) level() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func (n *Node) path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(n.Dir, name)
}

// passphrase reads the key passphrase: $MIXD_PASSPHRASE, else the file.
func (n *Node) passphrase() ([]byte, error) {
	if p, ok := os.LookupEnv(PassphraseEnv); ok {
		return []byte(p), nil
	}
	file := n.Cfg.PassphraseFile
	if f, ok := os.LookupEnv(PassphraseFileEnv); ok {
		file = f
	}
	if file == "" {
		return nil, nil
	}
	p, err := os.ReadFile(n.path(file))
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase (or set %s): %w", PassphraseEnv, err)
	}
	return bytes.TrimRight(p, "\r\n"), nil
}

// loadKeys reads secring.mix, key.txt, pubring.mix and type2.list.
func (n *Node) loadKeys(pass []byte) error {
	data, err := os.ReadFile(n.path(SecringFile))
	if err != nil {
		return fmt.Errorf("reading the secret keys: %w", err)
	}
	keys, errs := keyring.ParseSecring(data, pass)
	for _, e := range errs {
		n.Log.Warn("secring entry skipped", "err", e)
	}
	if len(keys) == 0 {
		return fmt.Errorf("%s holds no usable key (wrong passphrase?)", SecringFile)
	}
	own, err := os.ReadFile(n.path(KeyFile))
	if err != nil {
		return fmt.Errorf("reading the public key: %w", err)
	}
	ownKeys, _ := keyring.ParsePubring(own)
	if len(ownKeys) == 0 {
		return fmt.Errorf("%s holds no key", KeyFile)
	}
	pub, err := n.readPubring()
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.secring = keyring.NewSecring(keys)
	n.own = ownKeys[len(ownKeys)-1]
	n.pubring = pub
	n.mu.Unlock()
	n.refreshKeys()
	return nil
}

// readPubring reads the other remailers' keys; type2.list, when present,
// limits them to the listed ones as Mixmaster's client does.
func (n *Node) readPubring() (*keyring.Pubring, error) {
	data, err := os.ReadFile(n.path(PubringFile))
	if errors.Is(err, os.ErrNotExist) {
		return keyring.NewPubring(nil), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", PubringFile, err)
	}
	keys, errs := keyring.ParsePubring(data)
	for _, e := range errs {
		if !errors.Is(e, keyring.ErrStrayText) {
			n.Log.Warn("pubring entry skipped", "err", e)
		}
	}
	if list, err := os.ReadFile(n.path(Type2File)); err == nil {
		listed, _ := keyring.ParseType2List(list)
		ok := map[string]bool{}
		for _, l := range listed {
			ok[strings.ToLower(l.Name)] = true
		}
		kept := keys[:0]
		for _, k := range keys {
			if ok[strings.ToLower(k.Name)] {
				kept = append(kept, k)
			}
		}
		keys = kept
	}
	return keyring.NewPubring(keys), nil
}

// refreshKeys recomputes which secret keys decrypt now (§14.4).
func (n *Node) refreshKeys() {
	n.mu.Lock()
	n.usable = n.secring.Usable(n.Clock(), n.Cfg.KeyGrace)
	n.mu.Unlock()
}

func (n *Node) keys() *keyring.Secring {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.usable
}

// OwnKey is the node's public key entry (key.txt).
func (n *Node) OwnKey() *keyring.PublicKey {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.own
}

// poolSealer derives the key that seals the pool from the passphrase, so a
// copied disk without the passphrase shows no message text.
func poolSealer(dir string, pass []byte) (pool.Sealer, error) {
	salt, err := os.ReadFile(filepath.Join(dir, PoolSaltFile))
	if err != nil {
		return nil, fmt.Errorf("reading the pool salt: %w", err)
	}
	k, err := pbkdf2.Key(sha256.New, string(pass), salt, 200000, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving the pool key: %w", err)
	}
	var key [32]byte
	copy(key[:], k)
	return pool.NewAESGCMSealer(key)
}
