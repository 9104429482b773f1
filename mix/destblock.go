package mix

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mixgo/mixgo/abuse"
)

// BlockDestination appends addr (a plain address, or @domain) to dir's
// dest.blk so that no final message goes to it (§16.4). It is what a
// confirmed destination-block request and `mixd block-destination` do; a
// running daemon picks the change up within a second. added is false when
// dest.blk has the line already. Writers are serialised with a lock file
// and the file is replaced atomically.
func BlockDestination(dir, addr string) (added bool, err error) {
	addr = strings.TrimSpace(addr)
	if !abuse.ValidAddress(addr) && !(strings.HasPrefix(addr, "@") && abuse.ValidAddress("x"+addr)) {
		return false, fmt.Errorf("%q is neither a plain address nor @domain", addr)
	}
	lock, err := os.OpenFile(filepath.Join(dir, DestBlockFile+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("locking %s: %w", DestBlockFile, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	path := filepath.Join(dir, DestBlockFile)
	old, err := os.ReadFile(path)
	mode := os.FileMode(0o600)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return false, err
	default:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	for _, l := range strings.Split(string(old), "\n") {
		if strings.EqualFold(strings.TrimSpace(l), addr) {
			return false, nil
		}
	}
	data := bytes.Clone(old)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = append(data, addr+"\n"...)
	if err := writeFileAtomic(path, data, mode); err != nil {
		return false, fmt.Errorf("writing %s: %w", DestBlockFile, err)
	}
	return true, nil
}

// ruleFiles are the operator files the final rules come from.
var ruleFiles = []string{HeaderBlockFile, DestBlockFile, RabBlockFile, DestAllowFile, SourceBlockFile, DisclaimerFile, FromDisclFile, FooterFile}

// ruleFilesStamp identifies the current versions of the rule files.
func ruleFilesStamp(dir string) string {
	var b strings.Builder
	for _, f := range ruleFiles {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s:-;", f)
		}
	}
	return b.String()
}

// rules returns the final-delivery rules in force. The operator's files
// are checked at most once a second; when one changed (a confirmed block,
// `mixd block-destination`, an edit) they are read again. A file that no
// longer parses leaves the previous rules in force, with an error logged.
func (n *Node) rules() *finalRules {
	s := &n.svc
	now := time.Now().UnixNano()
	if last := s.rulesChecked.Load(); now-last >= int64(time.Second) && s.rulesChecked.CompareAndSwap(last, now) {
		n.reloadRules(false)
	}
	if r := s.rules.Load(); r != nil {
		return r
	}
	return n.final
}

// reloadRules reads the rule files again if they changed (or if force).
func (n *Node) reloadRules(force bool) {
	s := &n.svc
	s.rulesMu.Lock()
	defer s.rulesMu.Unlock()
	stamp := ruleFilesStamp(n.Dir)
	if !force && stamp == s.rulesStamp {
		return
	}
	first := s.rulesStamp == ""
	s.rulesStamp = stamp
	r, err := loadFinalRules(n.Dir, n.Cfg)
	if err != nil {
		n.Log.Error("reading the filter files again; the previous rules stay in force", "err", err)
		return
	}
	r.setRemailers(n.remailerAddrs())
	s.rules.Store(r)
	if !first {
		n.Log.Info("filter files reloaded")
	}
}

// remailerAddrs are the node's and the known remailers' addresses.
func (n *Node) remailerAddrs() map[string]bool {
	addrs := map[string]bool{strings.ToLower(n.Cfg.Address): true}
	n.mu.RLock()
	ring := n.pubring
	n.mu.RUnlock()
	if ring != nil {
		for _, k := range ring.Keys() {
			addrs[strings.ToLower(k.Address)] = true
		}
	}
	return addrs
}

// destBlocked reports whether final mail to addr is blocked now.
func (n *Node) destBlocked(addr string) bool {
	_, removed, _ := n.rules().cfg.DestBlock.Filter("To: " + addr)
	return removed
}
