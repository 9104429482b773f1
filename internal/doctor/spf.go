package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// SPF results (RFC 7208 §2.6).
const (
	spfNone      = "none"
	spfNeutral   = "neutral"
	spfPass      = "pass"
	spfFail      = "fail"
	spfSoftFail  = "softfail"
	spfTempError = "temperror"
	spfPermError = "permerror"
)

// RFC 7208 §4.6.4: at most 10 terms causing DNS lookups per evaluation,
// at most 2 of them finding nothing.
const (
	spfMaxLookups = 10
	spfMaxVoids   = 2
	spfMaxMX      = 10
)

// spfTerm is one mechanism.
type spfTerm struct {
	qual   byte   // '+', '-', '~' or '?'
	mech   string // all, include, a, mx, ptr, ip4, ip6, exists
	domain string // domain-spec as written (macros unexpanded); "" = the current domain
	prefix netip.Prefix
	cidr4  int // a, mx: prefix lengths, 32 and 128 when not given
	cidr6  int
}

// spfRecord is a parsed SPF record.
type spfRecord struct {
	terms    []spfTerm
	redirect string
	text     string
}

// isSPF tells whether a TXT string is an SPF record (version check only).
func isSPF(s string) bool {
	return len(s) >= 6 && strings.EqualFold(s[:6], "v=spf1") && (len(s) == 6 || s[6] == ' ')
}

// parseSPF reads an SPF record (RFC 7208 §4.5, §12). Any syntax error is
// a permerror of the whole record.
func parseSPF(s string) (*spfRecord, error) {
	if !isSPF(s) {
		return nil, fmt.Errorf("not an SPF record (must start with v=spf1)")
	}
	r := &spfRecord{text: s}
	seen := map[string]bool{}
	for _, term := range strings.Split(s[6:], " ") {
		if term == "" {
			continue
		}
		// A modifier is name=value with '=' before any ':' or '/'.
		if i := strings.IndexAny(term, "=:/"); i > 0 && term[i] == '=' {
			name := strings.ToLower(term[:i])
			if !validModifierName(name) {
				return nil, fmt.Errorf("bad modifier %q", clip(term))
			}
			if seen[name] && (name == "redirect" || name == "exp") {
				return nil, fmt.Errorf("%s= given twice", name)
			}
			seen[name] = true
			val := term[i+1:]
			if err := checkMacroString(val); err != nil {
				return nil, fmt.Errorf("%s=: %w", name, err)
			}
			if name == "redirect" {
				if val == "" {
					return nil, fmt.Errorf("empty redirect=")
				}
				r.redirect = val
			}
			continue // exp= and unknown modifiers do not change the result
		}
		t, err := parseSPFMechanism(term)
		if err != nil {
			return nil, err
		}
		r.terms = append(r.terms, t)
	}
	return r, nil
}

func validModifierName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func parseSPFMechanism(term string) (spfTerm, error) {
	t := spfTerm{qual: '+', cidr4: 32, cidr6: 128}
	if strings.IndexByte("+-~?", term[0]) >= 0 {
		t.qual, term = term[0], term[1:]
	}
	name, arg := term, ""
	if i := strings.IndexAny(term, ":/"); i >= 0 {
		name, arg = term[:i], term[i:]
	}
	t.mech = strings.ToLower(name)
	bad := func(why string) (spfTerm, error) {
		return spfTerm{}, fmt.Errorf("mechanism %q: %s", clip(term), why)
	}
	switch t.mech {
	case "all":
		if arg != "" {
			return bad("takes no argument")
		}
	case "include", "exists":
		if !strings.HasPrefix(arg, ":") || len(arg) < 2 {
			return bad("needs :domain")
		}
		t.domain = arg[1:]
	case "ptr":
		if arg != "" {
			if !strings.HasPrefix(arg, ":") || len(arg) < 2 {
				return bad("takes only :domain")
			}
			t.domain = arg[1:]
		}
	case "a", "mx":
		rest, c4, c6, err := cutDualCIDR(arg)
		if err != nil {
			return bad(err.Error())
		}
		t.cidr4, t.cidr6 = c4, c6
		if rest != "" {
			if !strings.HasPrefix(rest, ":") || len(rest) < 2 {
				return bad("takes :domain and /prefix lengths")
			}
			t.domain = rest[1:]
		}
	case "ip4", "ip6":
		if !strings.HasPrefix(arg, ":") {
			return bad("needs :address")
		}
		p, err := parseSPFNet(arg[1:], t.mech == "ip6")
		if err != nil {
			return bad(err.Error())
		}
		t.prefix = p
	default:
		return bad("unknown mechanism")
	}
	if t.domain != "" {
		if err := checkMacroString(t.domain); err != nil {
			return bad(err.Error())
		}
	}
	return t, nil
}

// cutDualCIDR splits "[:domain][/n][//m]" into the domain part and the
// prefix lengths.
func cutDualCIDR(arg string) (rest string, c4, c6 int, err error) {
	c4, c6, rest = 32, 128, arg
	if i := strings.LastIndex(rest, "//"); i >= 0 && allDigits(rest[i+2:]) {
		if c6, err = cidrLen(rest[i+2:], 128); err != nil {
			return
		}
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 && allDigits(rest[i+1:]) {
		if c4, err = cidrLen(rest[i+1:], 32); err != nil {
			return
		}
		rest = rest[:i]
	}
	return rest, c4, c6, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func cidrLen(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n > max || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("bad prefix length /%s", clip(s))
	}
	return n, nil
}

// parseSPFNet reads ip4:/ip6: arguments: an address with an optional
// prefix length.
func parseSPFNet(s string, v6 bool) (netip.Prefix, error) {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" || a.Is4() == v6 {
		return netip.Prefix{}, fmt.Errorf("bad address %q", clip(addr))
	}
	n := a.BitLen()
	if hasBits {
		if !allDigits(bits) {
			return netip.Prefix{}, fmt.Errorf("bad prefix length")
		}
		if n, err = cidrLen(bits, a.BitLen()); err != nil {
			return netip.Prefix{}, err
		}
	}
	return netip.PrefixFrom(a, n).Masked(), nil
}

// checkMacroString checks the macro syntax of a domain-spec (§7.1).
func checkMacroString(s string) error {
	_, err := expandMacros(s, &macroEnv{})
	return err
}

// macroEnv holds what macros expand to.
type macroEnv struct {
	sender string // local@domain
	domain string // current domain
	ip     netip.Addr
	helo   string
}

// expandMacros expands an SPF macro-string (RFC 7208 §7).
func expandMacros(s string, env *macroEnv) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e {
			return "", fmt.Errorf("bad character in %q", clip(s))
		}
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("'%%' at the end of %q", clip(s))
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case '_':
			b.WriteByte(' ')
		case '-':
			b.WriteString("%20")
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed macro in %q", clip(s))
			}
			v, err := expandMacro(s[i+1:i+end], env)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += end
		default:
			return "", fmt.Errorf("bad '%%' escape in %q", clip(s))
		}
	}
	return b.String(), nil
}

// expandMacro expands one "letter [digits] [r] [delimiters]".
func expandMacro(m string, env *macroEnv) (string, error) {
	if m == "" {
		return "", fmt.Errorf("empty macro")
	}
	letter := m[0]
	upper := letter >= 'A' && letter <= 'Z'
	var val string
	local, sdomain, _ := strings.Cut(env.sender, "@")
	switch letter | 0x20 {
	case 's':
		val = env.sender
	case 'l':
		val = local
	case 'o':
		val = sdomain
	case 'd':
		val = env.domain
	case 'i':
		val = macroIP(env.ip)
	case 'p':
		val = "unknown" // validated PTR names: the checker does not need them
	case 'v':
		val = "in-addr"
		if env.ip.Is6() {
			val = "ip6"
		}
	case 'h':
		val = env.helo
	default:
		return "", fmt.Errorf("unknown macro letter %q", string(letter))
	}
	rest := m[1:]
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	keep := 0
	if digits > 0 {
		n, err := strconv.Atoi(rest[:digits])
		if err != nil || n == 0 || n > 128 {
			return "", fmt.Errorf("bad macro transformer %q", clip(m))
		}
		keep = n
	}
	rest = rest[digits:]
	reverse := false
	if rest != "" && (rest[0] == 'r' || rest[0] == 'R') {
		reverse, rest = true, rest[1:]
	}
	delims := "."
	if rest != "" {
		for i := 0; i < len(rest); i++ {
			if strings.IndexByte(".-+,/_=", rest[i]) < 0 {
				return "", fmt.Errorf("bad macro delimiter in %q", clip(m))
			}
		}
		delims = rest
	}
	parts := strings.FieldsFunc(val, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if keep > 0 && keep < len(parts) {
		parts = parts[len(parts)-keep:]
	}
	val = strings.Join(parts, ".")
	if upper {
		val = urlEscape(val)
	}
	return val, nil
}

// urlEscape percent-encodes all but RFC 3986's unreserved characters, as
// uppercase macro letters ask.
func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// macroIP is %{i}: dotted quad, or dot-separated nibbles for IPv6.
func macroIP(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	if ip.Is4() {
		return ip.String()
	}
	b := ip.As16()
	nib := make([]string, 0, 32)
	for _, x := range b {
		nib = append(nib, strconv.FormatUint(uint64(x>>4), 16), strconv.FormatUint(uint64(x&15), 16))
	}
	return strings.Join(nib, ".")
}

// spfEval evaluates check_host() for one IP and sender (RFC 7208 §4).
type spfEval struct {
	ctx     context.Context
	r       *resolver
	ip      netip.Addr
	sender  string
	helo    string
	lookups int
	voids   int
	depth   int
}

var (
	errSPFLimit = errors.New("more than 10 terms that need DNS lookups (include, a, mx, ptr, exists, redirect; counted through includes)")
	errSPFVoids = errors.New("more than 2 lookups that found nothing")
)

// domainSpec expands a term's domain (or the current domain) and shortens
// it to 253 bytes as §7.3 says.
func (e *spfEval) domainSpec(spec, current string) (string, error) {
	if spec == "" {
		return current, nil
	}
	d, err := expandMacros(spec, &macroEnv{sender: e.sender, domain: current, ip: e.ip, helo: e.helo})
	if err != nil {
		return "", err
	}
	d = strings.TrimSuffix(d, ".")
	for len(d) > 253 {
		_, d, _ = strings.Cut(d, ".")
	}
	return d, nil
}

func (e *spfEval) countLookup() error {
	e.lookups++
	if e.lookups > spfMaxLookups {
		return errSPFLimit
	}
	return nil
}

func (e *spfEval) countVoid(n int, err error) error {
	if n == 0 && (err == nil || errors.Is(err, errNXDomain)) {
		e.voids++
		if e.voids > spfMaxVoids {
			return errSPFVoids
		}
	}
	return nil
}

// record fetches the one SPF record of domain.
func (e *spfEval) record(domain string) (*spfRecord, string, error) {
	txts, err := e.r.txt(e.ctx, domain)
	if errors.Is(err, errNXDomain) {
		return nil, spfNone, nil
	}
	if err != nil {
		return nil, spfTempError, err
	}
	var recs []string
	for _, t := range txts {
		if isSPF(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return nil, spfNone, nil
	case 1:
	default:
		return nil, spfPermError, fmt.Errorf("%s has %d SPF records; there must be one", domain, len(recs))
	}
	rec, err := parseSPF(recs[0])
	if err != nil {
		return nil, spfPermError, fmt.Errorf("%s: %w", domain, err)
	}
	return rec, "", nil
}

// check is check_host(ip, domain, sender): the result and, for errors,
// why.
func (e *spfEval) check(domain string) (string, error) {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > spfMaxLookups+1 {
		return spfPermError, errSPFLimit
	}
	rec, res, err := e.record(domain)
	if rec == nil {
		return res, err
	}
	for _, t := range rec.terms {
		match, res, err := e.match(t, domain)
		if res != "" {
			return res, err
		}
		if match {
			return qualResult(t.qual), nil
		}
	}
	if rec.redirect != "" {
		if err := e.countLookup(); err != nil {
			return spfPermError, err
		}
		target, err := e.domainSpec(rec.redirect, domain)
		if err != nil {
			return spfPermError, err
		}
		res, err := e.check(target)
		if res == spfNone {
			return spfPermError, fmt.Errorf("redirect=%s has no SPF record", target)
		}
		return res, err
	}
	return spfNeutral, nil
}

func qualResult(q byte) string {
	switch q {
	case '-':
		return spfFail
	case '~':
		return spfSoftFail
	case '?':
		return spfNeutral
	}
	return spfPass
}

// match evaluates one mechanism; a non-empty result ends the evaluation
// (an error).
func (e *spfEval) match(t spfTerm, domain string) (bool, string, error) {
	if t.mech == "all" {
		return true, "", nil
	}
	if t.mech == "ip4" || t.mech == "ip6" {
		return t.prefix.Contains(e.ip), "", nil
	}
	if err := e.countLookup(); err != nil {
		return false, spfPermError, err
	}
	target, err := e.domainSpec(t.domain, domain)
	if err != nil {
		return false, spfPermError, err
	}
	// Failures of these lookups are temperror, except a name that does not
	// exist, which simply does not match.
	temp := func(err error) (bool, string, error) {
		if err == nil || errors.Is(err, errNXDomain) {
			return false, "", nil
		}
		return false, spfTempError, err
	}
	switch t.mech {
	case "include":
		res, err := e.check(target)
		switch res {
		case spfPass:
			return true, "", nil
		case spfFail, spfSoftFail, spfNeutral:
			return false, "", nil
		case spfTempError:
			return false, spfTempError, err
		case spfNone:
			return false, spfPermError, fmt.Errorf("include:%s has no SPF record", target)
		}
		return false, spfPermError, err
	case "a":
		addrs, err := e.r.addrs(e.ctx, target)
		if verr := e.countVoid(len(addrs), err); verr != nil {
			return false, spfPermError, verr
		}
		if err != nil {
			return temp(err)
		}
		return e.inAny(addrs, t), "", nil
	case "mx":
		mxs, err := e.r.mx(e.ctx, target)
		if verr := e.countVoid(len(mxs), err); verr != nil {
			return false, spfPermError, verr
		}
		if err != nil {
			return temp(err)
		}
		if len(mxs) > spfMaxMX {
			return false, spfPermError, fmt.Errorf("mx:%s has more than %d MX records", target, spfMaxMX)
		}
		for _, mx := range mxs {
			addrs, err := e.r.addrs(e.ctx, mx.Mx)
			if err != nil && !errors.Is(err, errNXDomain) {
				return temp(err)
			}
			if e.inAny(addrs, t) {
				return true, "", nil
			}
		}
		return false, "", nil
	case "ptr":
		names, err := e.r.ptr(e.ctx, e.ip)
		if err != nil {
			return false, "", nil // a PTR failure is just no match (§5.5)
		}
		for i, name := range names {
			if i >= spfMaxMX {
				break
			}
			if !dns.IsSubDomain(dns.Fqdn(strings.ToLower(target)), dns.Fqdn(name)) {
				continue
			}
			addrs, _ := e.r.addrs(e.ctx, name)
			for _, a := range addrs {
				if a == e.ip {
					return true, "", nil
				}
			}
		}
		return false, "", nil
	case "exists":
		rrs, err := e.r.query(e.ctx, target, dns.TypeA)
		if verr := e.countVoid(len(rrs), err); verr != nil {
			return false, spfPermError, verr
		}
		if err != nil {
			return temp(err)
		}
		return len(rrs) > 0, "", nil
	}
	return false, spfPermError, fmt.Errorf("unknown mechanism %s", t.mech)
}

// inAny tells whether the IP lies in a prefix around one of addrs.
func (e *spfEval) inAny(addrs []netip.Addr, t spfTerm) bool {
	for _, a := range addrs {
		if a.Is4() != e.ip.Is4() {
			continue
		}
		bits := t.cidr6
		if a.Is4() {
			bits = t.cidr4
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true
		}
	}
	return false
}
