package mix

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mixgo/mixgo/abuse"
	"github.com/mixgo/mixgo/keyring"
)

// MixCfg is a Mixmaster mix.cfg: NAME value (or NAME=value) lines, #
// comments (§17). Names are upper case; a later line wins.
type MixCfg map[string]string

// ParseMixCfg reads a mix.cfg. It never fails: lines it cannot read are
// returned as warnings. A name alone has the empty value.
func ParseMixCfg(data []byte) (MixCfg, []string) {
	c := MixCfg{}
	var warn []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.IndexAny(l, " \t=")
		if i == 0 {
			warn = append(warn, fmt.Sprintf("mix.cfg line %d %q: no name, ignored", n, l))
			continue
		}
		if i < 0 {
			i = len(l) // a name alone: an empty value ("PASSPHRASE  ")
		}
		name := strings.ToUpper(l[:i])
		val := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l[i:]), "="))
		c[name] = val
	}
	if err := sc.Err(); err != nil {
		warn = append(warn, "mix.cfg: "+err.Error())
	}
	return c, warn
}

func (c MixCfg) get(name, def string) string {
	if v, ok := c[name]; ok {
		return v
	}
	return def
}

// mixBool reads y/n (x = 2) as 3.0.2d does.
func mixBool(v string) (int, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "y", "yes", "1":
		return 1, true
	case "n", "no", "0":
		return 0, true
	case "x", "2":
		return 2, true
	}
	return 0, false
}

// mixDuration reads a 3.0.2d time: a number with unit s m h d w b (30
// days) y (365 days), hours when there is none.
func mixDuration(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	unit := time.Hour
	num := v
	switch v[len(v)-1] {
	case 's', 'S':
		unit = time.Second
	case 'm', 'M':
		unit = time.Minute
	case 'h', 'H':
		unit = time.Hour
	case 'd', 'D':
		unit = 24 * time.Hour
	case 'w', 'W':
		unit = 7 * 24 * time.Hour
	case 'b', 'B':
		unit = 30 * 24 * time.Hour
	case 'y', 'Y':
		unit = 365 * 24 * time.Hour
	}
	if unit != time.Hour || !(v[len(v)-1] >= '0' && v[len(v)-1] <= '9') {
		num = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > 1<<20 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// ImportOptions are the choices of `mixd import-mixmaster`.
type ImportOptions struct {
	// PassphraseFile holds the passphrase of the Mixmaster secring.mix
	// (when it is not mix.cfg's PASSPHRASE, e.g. compiled in).
	PassphraseFile string
	Now            time.Time // zero = time.Now()
}

// ImportReport says what an import did.
type ImportReport struct {
	Name, Address string
	KeyIDs        []string // the imported secret keys, newest first
	Mapped        []string // Mixmaster settings and files and what they became
	NotMapped     []string // Mixmaster settings not carried over, and why
	ReplayIDs     int      // packet IDs taken over from id.log
}

func (r *ImportReport) mapped(format string, a ...any) {
	r.Mapped = append(r.Mapped, fmt.Sprintf(format, a...))
}

func (r *ImportReport) notMapped(format string, a ...any) {
	r.NotMapped = append(r.NotMapped, fmt.Sprintf(format, a...))
}

// notCarried are mix.cfg settings with nothing to map to, and why.
var notCarried = map[string]string{
	"PGP":              "Type I (Cypherpunk) remailing is not supported",
	"UNENCRYPTED":      "Type I (Cypherpunk) remailing is not supported",
	"REMIX":            "Type I feature; the capabilities line keeps 3.0.2d's 'remix'",
	"REPGP":            "Type I feature",
	"INFLATEMAX":       "Type I feature; the capabilities line keeps 3.0.2d's default inflt50",
	"MAXRANDHOPS":      "Type I feature; the capabilities line keeps 3.0.2d's default rhop5",
	"EXTFLAGS":         "extra capability flags are not supported",
	"ORGANIZATION":     "only used for posts through a news program, which mixd does not support",
	"MAILTONEWS":       "used only to resolve NEWS mail-to-news",
	"STATSDETAILS":     "the stats answer has no per-type details (the counts come from the replay log)",
	"LISTSUPPORTED":    "the conf answer always lists the known remailers",
	"ERRLOG":           "mixd logs to standard error (the journal under systemd)",
	"MAILIN":           "mixd receives mail by SMTP (listen) or from the MTA through `mixd process`",
	"MAILINTIME":       "mixd processes mail as it arrives",
	"POP3CONF":         "mixd receives mail by SMTP, not POP3",
	"POP3TIME":         "mixd receives mail by SMTP, not POP3",
	"POP3SIZELIMIT":    "mixd receives mail by SMTP, not POP3",
	"POP3DEL":          "mixd receives mail by SMTP, not POP3",
	"TIMESKEW_BACK":    "mixd trusts the system clock: keep it synchronised (NTP)",
	"TIMESKEW_FORWARD": "mixd trusts the system clock: keep it synchronised (NTP)",
	"TEMP_FAIL":        "clock check of 3.0.2d, not needed",
	"USAGEFILE":        "other mail to the remailer is not answered (no backscatter); set mailbox to keep it",
	"REPLYFILE":        "mail to ANONADDR is not answered",
	"ANONADDR":         "no separate address for anonymous replies",
	"MAILANON":         "no separate address for anonymous replies",
	"MAILUSAGE":        "other mail goes to mailbox",
	"MAILBLOCK":        "destination-block requests are confirmed and applied, not filed",
	"MAILBOUNCE":       "bounces go to mailbox",
	"SENDANONMAIL":     "not used",
	"SHORTNAMES":       "not used",
	"SIGNATURE":        "not used",
	"PIDFILE":          "systemd tracks the daemon",
	"POOL":             "the pool is a bbolt file (pool.db); flush Mixmaster's pool (mixmaster -S) before switching",
	"STATS":            "statistics start afresh (stats.log)",
	"IDLOG":            "read for the replay log (see ReplayIDs)",
	"KEYFILE":          "key.txt is written from the imported secret keys",
	"TYPE2REL":         "mixd does not read mlist.txt (the remailer needs no statistics)",
	"TYPE1LIST":        "Type I",
	"STAREX":           "not used",
	"PGPREMPUBRING":    "Type I",
	"PGPREMPUBASC":     "Type I",
	"PGPREMSECRING":    "Type I",
	"PGPPUBRING":       "Type I",
	"PGPSECRING":       "Type I",
	"NYMSECRING":       "nym server features are not supported",
	"NYMDB":            "nym server features are not supported",
	"SENDMAILCHECK":    "not used",
	"SMTPPORT":         "read with SMTPRELAY",
	"HELONAME":         "read as hostname",
	"ENVFROM":          "envelope sender is the remailer address",
	"ALLPINGERSURL":    "mix update fetches pinger lists",
	"WGET":             "not used",
	"CURL":             "not used",
}

// clientOptions are mix.cfg settings of the Mixmaster client.
var clientOptions = map[string]bool{
	"CHAIN": true, "DISTANCE": true, "MINREL": true, "RELFINAL": true, "MAXLAT": true, "MINLAT": true,
	"NUMCOPIES": true, "PGPFORMAT": true, "COMPRESS": true, "CLIENTAUTOFLUSH": true,
}

// ImportMixmaster reads the Mixmaster installation in src (mix.cfg,
// secring.mix with its passphrase, pubring.mix, type2.list, the block and
// filter files, the operator texts, id.log) and creates a node in dst
// that keeps the operator's keys, name and address. The report says
// which settings were mapped, which were not, and why.
func ImportMixmaster(src, dst string, o ImportOptions) (*ImportReport, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if _, err := os.Stat(filepath.Join(dst, ConfigFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a node (%s exists)", dst, ConfigFile)
	}
	raw, err := os.ReadFile(filepath.Join(src, "mix.cfg"))
	if err != nil {
		return nil, fmt.Errorf("reading the Mixmaster configuration: %w", err)
	}
	mc, warn := ParseMixCfg(raw)
	rep := &ImportReport{NotMapped: warn}
	if r, _ := mixBool(mc.get("REMAIL", "n")); r != 1 {
		return nil, fmt.Errorf("%s/mix.cfg: REMAIL is not y: this Mixmaster installation is a client, not a remailer", src)
	}
	srcFile := func(varName, def string) string {
		v := mc.get(varName, def)
		if v == "" || filepath.IsAbs(v) {
			return v
		}
		return filepath.Join(src, v)
	}

	// Keys.
	oldPass := []byte(mc.get("PASSPHRASE", ""))
	if o.PassphraseFile != "" {
		p, err := os.ReadFile(o.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("reading the Mixmaster passphrase: %w", err)
		}
		oldPass = bytes.TrimRight(p, "\r\n")
	}
	secData, err := os.ReadFile(srcFile("SECRING", "secring.mix"))
	if err != nil {
		return nil, fmt.Errorf("reading the Mixmaster secret keys: %w", err)
	}
	keys, kerrs := keyring.ParseSecring(secData, oldPass)
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key of %s could be read (wrong passphrase? give --passphrase-file): %w",
			filepath.Base(srcFile("SECRING", "secring.mix")), errors.Join(kerrs...))
	}
	for _, e := range kerrs {
		rep.notMapped("secring.mix entry skipped: %v", e)
	}
	var kept []*keyring.SecretKey
	for _, k := range keys {
		if !k.Expires.IsZero() && o.Now.After(k.Expires.Add(7*24*time.Hour)) {
			rep.notMapped("key %x expired on %s: not imported", k.KeyID[:], k.Expires.Format("2006-01-02"))
			continue
		}
		kept = append(kept, k)
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("every key of the Mixmaster secret ring has expired")
	}

	// Configuration. The pool keeps Mixmaster's algorithm, whose
	// POOLSIZE/RATE/SENDPOOLTIME are mapped below: an imported node mixes
	// as it did (docs/ANONYMITY.md explains our own default).
	cfg := DefaultConfig()
	cfg.PoolStrategy = "timed-dynamic"
	var ownPub *keyring.PublicKey
	if kt, err := os.ReadFile(srcFile("KEYFILE", "key.txt")); err == nil {
		if pubs, _ := keyring.ParsePubring(kt); len(pubs) > 0 {
			ownPub = pubs[len(pubs)-1]
		}
	}
	cfg.Name = strings.ToLower(mc.get("SHORTNAME", ""))
	cfg.Address = mc.get("REMAILERADDR", "")
	if cfg.Name == "" && ownPub != nil {
		cfg.Name = ownPub.Name
	}
	if cfg.Address == "" && ownPub != nil {
		cfg.Address = ownPub.Address
	}
	if i := strings.IndexAny(cfg.Name, ". \t"); i > 0 {
		cfg.Name = cfg.Name[:i] // 3.0.2d cuts SHORTNAME there
	}
	rep.Name, rep.Address = cfg.Name, cfg.Address
	rep.mapped("SHORTNAME %s → name = %s", mc.get("SHORTNAME", "(from key.txt)"), cfg.Name)
	rep.mapped("REMAILERADDR %s → address = %s", mc.get("REMAILERADDR", "(from key.txt)"), cfg.Address)
	extra, err := importSettings(mc, cfg, rep, dst)
	if err != nil {
		return nil, err
	}
	// The imported keys keep their lifetimes; rotation must not start at
	// once because the Mixmaster overlap was longer than ours allows.
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("the mapped configuration is not usable: %w", err)
	}

	// New secrets: a random passphrase (the Mixmaster one is often weak or
	// compiled in) re-encrypts the keys; the pool gets its own salt.
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	pass := []byte(base64.RawURLEncoding.EncodeToString(secret))
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	var sec bytes.Buffer
	for _, k := range kept {
		e, err := keyring.EncodeSecretKey(rand.Reader, k, pass)
		if err != nil {
			return nil, err
		}
		sec.Write(e)
	}
	newest := newestKey(kept, o.Now)
	if newest == nil {
		newest = kept[len(kept)-1]
	}
	for _, k := range validKeys(kept, o.Now) {
		rep.KeyIDs = append(rep.KeyIDs, fmt.Sprintf("%x", k.KeyID[:]))
	}
	pub := newest.Public(cfg.Name, cfg.Address, "2:"+cfg.ProtocolVersionStr, Capabilities(cfg))
	rep.mapped("PASSPHRASE → the keys are re-encrypted under a new random passphrase in %s (move it off the disk and set %s)",
		filepath.Join(dst, cfg.PassphraseFile), PassphraseEnv)

	files := []struct {
		name string
		data []byte
	}{
		{cfg.PassphraseFile, append(pass, '\n')},
		{PoolSaltFile, salt},
		{SecringFile, sec.Bytes()},
		{KeyFile, pub.KeyTxt()},
	}
	svc, err := serviceFiles(cfg, pass, o.Now)
	if err != nil {
		return nil, err
	}
	copied := extra
	copyFile := func(varName, def, to string) {
		p := srcFile(varName, def)
		if p == "" {
			return
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return
		}
		copied[to] = append(copied[to], b...)
		rep.mapped("%s %s → %s", varName, filepath.Base(p), to)
	}
	copyFile("PUBRING", "pubring.mix", PubringFile)
	copyFile("TYPE2LIST", "type2.list", Type2File)
	copyFile("HDRFILTER", "header.blk", HeaderBlockFile)
	copyFile("DESTALLOW", "dest.alw", DestAllowFile)
	copyFile("SOURCEBLOCK", "source.blk", SourceBlockFile)
	copyFile("DISCLAIMFILE", "disclaim.txt", DisclaimerFile)
	copyFile("FROMDSCLFILE", "fromdscl.txt", FromDisclFile)
	copyFile("MSGFOOTERFILE", "footer.txt", FooterFile)
	copyFile("HELPFILE", "help.txt", HelpFile)
	copyFile("ABUSEFILE", "abuse.txt", AbuseFile)
	copyFile("BLOCKFILE", "blocked.txt", BlockedFile)
	for i, f := range strings.Fields(mc.get("DESTBLOCK", "dest.blk rab.blk")) {
		to := DestBlockFile
		if i > 0 {
			to = RabBlockFile
		}
		p := f
		if !filepath.IsAbs(p) {
			p = filepath.Join(src, f)
		}
		if b, err := os.ReadFile(p); err == nil {
			if len(copied[to]) > 0 && !bytes.HasSuffix(copied[to], []byte("\n")) {
				copied[to] = append(copied[to], '\n')
			}
			copied[to] = append(copied[to], b...)
			rep.mapped("DESTBLOCK %s → %s", f, to)
		}
	}
	if _, ok := copied[PubringFile]; !ok {
		copied[PubringFile] = pub.KeyTxt()
	}
	if p := srcFile("ADMKEYFILE", "adminkey.txt"); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			copied["adminkey.mixmaster.txt"] = b
			rep.notMapped("ADMKEYFILE %s: kept as adminkey.mixmaster.txt; answers are signed with a new admin key (adminkey.txt), since mixd needs the secret key to sign", filepath.Base(p))
		}
	}
	for _, f := range svc {
		if _, ok := copied[f.name]; !ok {
			copied[f.name] = f.data
		}
	}
	reqDir := srcFile("REQUESTDIR", "requests")
	if ents, err := os.ReadDir(reqDir); err == nil {
		for _, e := range ents {
			if e.Type().IsRegular() && abuse.RequestName(e.Name()) == e.Name() {
				if b, err := os.ReadFile(filepath.Join(reqDir, e.Name())); err == nil {
					copied[filepath.Join(RequestDir, e.Name())] = b
					rep.mapped("REQUESTDIR %s → %s", e.Name(), filepath.Join(RequestDir, e.Name()))
				}
			}
		}
	}
	names := make([]string, 0, len(copied))
	for k := range copied {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		files = append(files, struct {
			name string
			data []byte
		}{k, copied[k]})
	}
	files = append(files, struct {
		name string
		data []byte
	}{ConfigFile, cfg.Text()})

	if err := os.MkdirAll(filepath.Join(dst, RequestDir), 0o700); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(dst, f.name), f.data); err != nil {
			return nil, err
		}
	}
	if strings.HasPrefix(cfg.Deliver, "dir:") {
		if err := os.MkdirAll(strings.TrimPrefix(cfg.Deliver, "dir:"), 0o700); err != nil {
			return nil, err
		}
	}
	if err := importReplayLog(srcFile("IDLOG", "id.log"), dst, mc, o.Now, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// importSettings maps mix.cfg's remailer settings onto cfg.
// It returns files to write besides (the SMTP password).
func importSettings(mc MixCfg, cfg *Config, rep *ImportReport, dst string) (map[string][]byte, error) {
	absDst, err := filepath.Abs(dst)
	if err != nil {
		return nil, err
	}
	extra := map[string][]byte{}
	names := make([]string, 0, len(mc))
	for k := range mc {
		names = append(names, k)
	}
	sort.Strings(names)
	handled := map[string]bool{"REMAIL": true, "SHORTNAME": true, "REMAILERADDR": true, "PASSPHRASE": true, "SECRING": true,
		"PUBRING": true, "TYPE2LIST": true, "HDRFILTER": true, "DESTALLOW": true, "SOURCEBLOCK": true, "DISCLAIMFILE": true,
		"FROMDSCLFILE": true, "MSGFOOTERFILE": true, "HELPFILE": true, "ABUSEFILE": true, "BLOCKFILE": true, "DESTBLOCK": true,
		"ADMKEYFILE": true, "REQUESTDIR": true}
	for _, name := range names {
		v := mc[name]
		bad := func() { rep.notMapped("%s %q: cannot read the value", name, v) }
		setInt := func(dst *int, lo, hi int, conf string) {
			n, err := strconv.Atoi(v)
			if err != nil {
				bad()
				return
			}
			if n < lo || n > hi {
				c := min(max(n, lo), hi)
				rep.notMapped("%s %d: out of range, %s = %d", name, n, conf, c)
				n = c
			}
			*dst = n
			rep.mapped("%s %s → %s = %d", name, v, conf, n)
		}
		setDur := func(dst *time.Duration, lo time.Duration, conf string) {
			d, ok := mixDuration(v)
			if !ok {
				bad()
				return
			}
			if d < lo {
				rep.notMapped("%s %s: below %v, %s = %s", name, v, lo, conf, formatDuration(lo))
				d = lo
			}
			*dst = d
			rep.mapped("%s %s → %s = %s", name, v, conf, formatDuration(d))
		}
		setBool := func(dst *bool, conf string) {
			b, ok := mixBool(v)
			if !ok {
				bad()
				return
			}
			*dst = b != 0
			rep.mapped("%s %s → %s = %v", name, v, conf, *dst)
		}
		switch {
		case handled[name]:
		case name == "REMAILERNAME":
			cfg.RemailerName = v
			rep.mapped("REMAILERNAME %s → remailer_name", v)
		case name == "ANONNAME":
			cfg.AnonName = v
			rep.mapped("ANONNAME %s → anon_name", v)
		case name == "COMPLAINTS":
			cfg.Complaints = v
			rep.mapped("COMPLAINTS %s → complaints", v)
		case name == "MIDDLEMAN":
			setBool(&cfg.Middleman, "middleman")
		case name == "FORWARDTO":
			cfg.ForwardTo = v
			rep.mapped("FORWARDTO %s → forward_to", v)
		case name == "MIX":
			if b, _ := mixBool(v); b == 0 {
				rep.notMapped("MIX n: mixd always processes Mixmaster packets")
			}
		case name == "POOLSIZE":
			setInt(&cfg.PoolSize, 0, 1<<20, "pool_size")
		case name == "RATE":
			setInt(&cfg.PoolRate, 1, 100, "pool_rate")
		case name == "SENDPOOLTIME":
			d, ok := mixDuration(v)
			if !ok {
				bad()
			} else if d <= 0 {
				cfg.PoolInterval = time.Minute
				rep.mapped("SENDPOOLTIME %s (each run) → pool_interval = 1m (it must be > 0)", v)
			} else {
				cfg.PoolInterval = d
				rep.mapped("SENDPOOLTIME %s → pool_interval = %s", v, formatDuration(d))
			}
		case name == "INDUMMYP":
			setInt(&cfg.InDummy, 0, 84, "in_dummy_percent")
		case name == "OUTDUMMYP":
			setInt(&cfg.OutDummy, 0, 96, "out_dummy_percent")
		case name == "IDEXP":
			setDur(&cfg.ReplayExpiry, 120*time.Hour, "replay_expiry")
		case name == "PACKETEXP":
			setDur(&cfg.ChunkExpiry, time.Hour, "chunk_expiry")
		case name == "MAXRECIPIENTS":
			setInt(&cfg.MaxRecipients, 1, 1000, "max_recipients")
		case name == "SIZELIMIT":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				bad()
				continue
			}
			cfg.SizeLimit = int64(n) * 1024
			rep.mapped("SIZELIMIT %d kB → size_limit = %d", n, cfg.SizeLimit)
		case name == "BINFILTER":
			b, ok := mixBool(v)
			if !ok {
				bad()
				continue
			}
			cfg.BinFilter = b
			rep.mapped("BINFILTER %s → bin_filter = %d", v, b)
		case name == "MID":
			setBool(&cfg.MessageID, "message_id")
		case name == "NEWS":
			switch {
			case v == "":
			case v == "mail-to-news":
				cfg.News = mc.get("MAILTONEWS", "mail2news@dizum.com,mail2news@m2n.mixmin.net")
				rep.mapped("NEWS mail-to-news → news = %s", cfg.News)
			case strings.Contains(v, "@") && !strings.Contains(v, " "):
				cfg.News = v
				rep.mapped("NEWS %s → news", v)
			default:
				rep.notMapped("NEWS %s: posting through a news program is not supported; posts are refused", v)
			}
		case name == "PRECEDENCE":
			cfg.Precedence = v
			rep.mapped("PRECEDENCE %s → precedence", v)
		case name == "KEYLIFETIME":
			setDur(&cfg.KeyLifetime, 24*time.Hour, "key_lifetime")
		case name == "KEYGRACEPERIOD":
			setDur(&cfg.KeyGrace, 0, "key_grace")
		case name == "KEYOVERLAPPERIOD":
			setDur(&cfg.KeyOverlap, 0, "key_overlap")
		case name == "AUTOREPLY":
			setBool(&cfg.AbuseAutoreply, "abuse_autoreply")
		case name == "AUTOBLOCK":
			setBool(&cfg.DestinationBlock, "destination_block")
			if cfg.DestinationBlock {
				rep.mapped("AUTOBLOCK y: destination-block requests now need a confirmation from the blocked address")
			}
		case name == "MAILABUSE" || name == "MAILBOX":
			conf := map[string]string{"MAILABUSE": "abuse_maildir", "MAILBOX": "mailbox"}[name]
			if strings.HasSuffix(v, "/") {
				p := v
				if !filepath.IsAbs(p) {
					p = filepath.Join(absDst, filepath.Base(strings.TrimSuffix(v, "/")))
				}
				if name == "MAILABUSE" {
					cfg.AbuseMaildir = p
				} else {
					cfg.Mailbox = p
				}
				rep.mapped("%s %s (Maildir) → %s = %s", name, v, conf, p)
			} else {
				rep.notMapped("%s %s: only Maildir folders are supported (not mbox, programs or forwarding); %s = %s", name, v, conf,
					map[string]string{"MAILABUSE": cfg.AbuseMaildir, "MAILBOX": "(none: dropped)"}[name])
			}
		case name == "SENDMAIL":
			switch {
			case v == "outfile":
				cfg.Deliver = "dir:" + filepath.Join(absDst, "out")
				rep.mapped("SENDMAIL outfile → deliver = %s (one file per mail)", cfg.Deliver)
			case mc.get("SMTPRELAY", "") != "":
			case strings.HasPrefix(v, "/"):
				prog := strings.Fields(v)[0]
				cfg.Deliver = "sendmail:" + prog
				rep.mapped("SENDMAIL %s → deliver = %s (run as PROGRAM -oi -f FROM -- RCPT…)", v, cfg.Deliver)
			default:
				rep.notMapped("SENDMAIL %s: not understood; deliver = %s", v, cfg.Deliver)
			}
		case name == "SMTPRELAY":
			if v != "" {
				cfg.Deliver = "smtp://" + v + ":" + mc.get("SMTPPORT", "25")
				rep.mapped("SMTPRELAY %s → deliver = %s", v, cfg.Deliver)
			}
		case name == "SMTPUSERNAME":
			cfg.SMTPUser = v
			rep.mapped("SMTPUSERNAME → smtp_user")
		case name == "SMTPPASSWORD":
			if v != "" {
				cfg.SMTPPasswordFile = "smtp.password"
				extra[cfg.SMTPPasswordFile] = []byte(v + "\n")
				rep.mapped("SMTPPASSWORD → smtp_password_file = smtp.password")
			}
		case name == "VERBOSE":
			if n, err := strconv.Atoi(v); err == nil && n <= 1 {
				cfg.LogLevel = "error"
			}
			rep.mapped("VERBOSE %s → log_level = %s (debug adds per-packet drop reasons)", v, cfg.LogLevel)
		case clientOptions[name]:
			rep.notMapped("%s: client setting, the remailer does not use it", name)
		case notCarried[name] != "":
			rep.notMapped("%s: %s", name, notCarried[name])
		default:
			rep.notMapped("%s: unknown to mixd", name)
		}
	}
	if cfg.KeyLifetime > 0 && cfg.KeyOverlap >= cfg.KeyLifetime {
		cfg.KeyOverlap = cfg.KeyLifetime / 2
		rep.notMapped("key_overlap set to %s: it must be below key_lifetime", formatDuration(cfg.KeyOverlap))
	}
	return extra, nil
}

// importReplayLog takes over 3.0.2d's id.log (§13: records of a 16-byte
// packet ID and a 64-bit little-endian time, the first a sentinel), so
// that packets the old remailer processed cannot be replayed to the new
// one. The IDs are logged at import time and expire replay_expiry later.
func importReplayLog(path, dst string, mc MixCfg, now time.Time, rep *ImportReport) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || path == "" {
		return nil
	}
	if err != nil {
		return err
	}
	if len(data)%24 != 0 {
		rep.notMapped("IDLOG %s: %d bytes is not a whole number of 24-byte records (a 32-bit build?): replay IDs not imported", filepath.Base(path), len(data))
		return nil
	}
	var ids [][16]byte
	for off := 0; off+24 <= len(data); off += 24 {
		var id [16]byte
		copy(id[:], data[off:off+16])
		t := time.Unix(int64(binary.LittleEndian.Uint64(data[off+16:off+24])), 0)
		if id == ([16]byte{}) || t.Before(now.Add(-180*24*time.Hour)) || t.After(now.Add(180*24*time.Hour)) {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	n, err := Open(dst, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer n.Close()
	for _, id := range ids {
		in, err := n.Store.AddIncoming(nil)
		if err != nil {
			return err
		}
		if _, err := n.Store.Accept(in, id, now); err != nil {
			return fmt.Errorf("importing the replay log: %w", err)
		}
	}
	rep.ReplayIDs = len(ids)
	rep.mapped("IDLOG %s → %d packet IDs in the replay log", filepath.Base(path), len(ids))
	// The statistics start after the imported IDs.
	cur, err := n.currentSample(now)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dst, StatsFile), []byte(cur.line()), 0o600)
}
