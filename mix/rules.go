package mix

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mixgo/mixgo/packet"
)

// Operator files in a node's directory, as Mixmaster names them (§10.2).
const (
	HeaderBlockFile = "header.blk"
	DestBlockFile   = "dest.blk"
	RabBlockFile    = "rab.blk"
	DestAllowFile   = "dest.alw"
	SourceBlockFile = "source.blk"
	DisclaimerFile  = "disclaim.txt"
	FromDisclFile   = "fromdscl.txt"
	FooterFile      = "footer.txt"
)

// finalRules is everything the exit applies to final messages, loaded once.
type finalRules struct {
	cfg         *FinalConfig
	allowed     map[string]bool // allowed_headers, lower case; nil = all
	destAllow   PatternList
	sourceBlock PatternList
}

// defaultRuleFiles are written by Init: Mixmaster's stock header.blk and
// dest.blk and dest.alw, and an empty source.blk with a comment.
func defaultRuleFiles() []struct {
	name string
	data []byte
} {
	return []struct {
		name string
		data []byte
	}{
		{HeaderBlockFile, []byte(DefaultHeaderBlock)},
		{DestBlockFile, []byte(DefaultDestBlock)},
		{DestAllowFile, []byte(DefaultDestAllow)},
		{SourceBlockFile, []byte("# Mail whose From:, Sender: or Received: matches a line here is ignored.\n# Syntax: docs/CONFIG.md (pattern files).\n")},
	}
}

// readOptional returns a file's contents, or nil if it does not exist.
func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func loadPatterns(dir, name string) (PatternList, error) {
	b, err := readOptional(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	list, errs := ParsePatterns(b)
	if len(errs) > 0 {
		// A pattern RE2 cannot compile would silently let mail through:
		// refuse to start and say which.
		return nil, fmt.Errorf("%s: %w", name, errors.Join(errs...))
	}
	return list, nil
}

func loadFinalRules(dir string, cfg *Config) (*finalRules, error) {
	r := &finalRules{cfg: &FinalConfig{
		Address:       cfg.Address,
		AnonName:      cfg.AnonName,
		Complaints:    cfg.Complaints,
		SizeLimit:     int(cfg.SizeLimit),
		MaxRecipients: cfg.MaxRecipients,
		BinFilter:     cfg.BinFilter,
		MessageID:     cfg.MessageID,
		News:          cfg.News,
		Precedence:    cfg.Precedence,
	}}
	if f := strings.Fields(cfg.AllowedHeaders); len(f) > 0 {
		r.allowed = map[string]bool{}
		for _, h := range f {
			r.allowed[strings.ToLower(h)] = true
		}
	}
	if r.cfg.Complaints == "" {
		// Improvement on 3.0.2d, which names the remailer address: the
		// disclaimer points at the abuse mailbox the node answers.
		r.cfg.Complaints = "abuse@" + cfg.Domain()
	}
	var err error
	if r.cfg.HeaderBlock, err = loadPatterns(dir, HeaderBlockFile); err != nil {
		return nil, err
	}
	for _, f := range []string{DestBlockFile, RabBlockFile} {
		l, err := loadPatterns(dir, f)
		if err != nil {
			return nil, err
		}
		r.cfg.DestBlock = append(r.cfg.DestBlock, l...)
	}
	if r.destAllow, err = loadPatterns(dir, DestAllowFile); err != nil {
		return nil, err
	}
	if r.sourceBlock, err = loadPatterns(dir, SourceBlockFile); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		name string
		dst  *[]byte
	}{{DisclaimerFile, &r.cfg.Disclaimer}, {FromDisclFile, &r.cfg.FromDisclaimer}, {FooterFile, &r.cfg.Footer}} {
		if *t.dst, err = readOptional(filepath.Join(dir, t.name)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// allowHeaders keeps only the allowed header lines of a final message.
// Lines without a colon are kept: the final rules mark them X-Invalid.
func (r *finalRules) allowHeaders(m *packet.Message) *packet.Message {
	if r.allowed == nil {
		return m
	}
	out := *m
	out.Headers = nil
	for _, h := range m.Headers {
		name, _, ok := strings.Cut(h, ":")
		if !ok || r.allowed[strings.ToLower(strings.TrimSpace(name))] {
			out.Headers = append(out.Headers, h)
		}
	}
	return &out
}

// setRemailers tells the final rules which addresses are remailers.
func (r *finalRules) setRemailers(addrs map[string]bool) {
	r.cfg.KnownRemailers = func(a string) bool { return addrs[strings.ToLower(a)] }
}

// sourceBlocked reports whether the carrying mail's From:, Sender: or
// Received: header matches source.blk (§9.2): such mail is ignored.
func (r *finalRules) sourceBlocked(raw []byte) bool {
	if len(r.sourceBlock) == 0 {
		return false
	}
	head, _, _ := bytes.Cut(raw, []byte("\n\n"))
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Buffer(make([]byte, 4096), 1<<20)
	var cur string
	check := func() bool {
		name, val, ok := strings.Cut(cur, ":")
		if !ok {
			return false
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "from", "sender", "received":
			m, _ := r.sourceBlock.match(strings.TrimSpace(val))
			return m
		}
		return false
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			cur += line
			continue
		}
		if check() {
			return true
		}
		cur = line
	}
	return check()
}

// match reports whether any pattern matches s.
func (l PatternList) match(s string) (matched, reject bool) {
	for _, p := range l {
		if m, q := p.Match(s); m {
			return true, q
		}
	}
	return false, false
}
