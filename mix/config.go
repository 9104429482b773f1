package mix

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/mixgo/mixgo/internal/conf"
)

// ConfigFile is the name of the configuration file in a node's directory.
const ConfigFile = "mixd.conf"

// Config is a node's configuration: one file, mixd.conf, with lines
// "name = value" and # comments. Every field carries its name, default and
// documentation in tags; the commented file `mixd init` writes and
// docs/CONFIG.md are both generated from them, so they cannot drift.
type Config struct {
	// Identity.
	Name         string `conf:"name" doc:"Short remailer name (lowercase, no dots or spaces), as in pubring.mix and type2.list."`
	Address      string `conf:"address" doc:"The remailer's e-mail address: packets and remailer-* requests come here."`
	RemailerName string `conf:"remailer_name" default:"Anonymous Remailer" doc:"Display name in the From: of answers to remailer-* requests, as REMAILERNAME: 'NAME <address>'."`

	// Ingress.
	Listen         string        `conf:"listen" default:"127.0.0.1:2525" doc:"SMTP listener (host:port). Put an MTA in front or bind port 25 with the capability the systemd unit grants."`
	Hostname       string        `conf:"hostname" default:"localhost" doc:"Host name used in the SMTP greeting and EHLO."`
	MaxMessageSize int64         `conf:"max_message_size" default:"1048576" doc:"Largest e-mail accepted, in bytes; larger ones get 552. A packet e-mail is about 28 KB."`
	MaxConnections int           `conf:"max_connections" default:"100" doc:"Concurrent SMTP connections; more are answered 421."`
	ReadTimeout    time.Duration `conf:"read_timeout" default:"60s" doc:"SMTP read timeout per command."`
	WriteTimeout   time.Duration `conf:"write_timeout" default:"60s" doc:"SMTP write timeout per reply."`
	TarpitErrors   int           `conf:"tarpit_errors" default:"3" doc:"After this many rejected commands in one session every further reply is delayed (as Postfix's smtpd_soft_error_limit)."`
	TarpitDelay    time.Duration `conf:"tarpit_delay" default:"2s" doc:"Delay added per error beyond tarpit_errors."`

	// Egress.
	Deliver            string        `conf:"deliver" default:"mx" doc:"How mail leaves: smtp://HOST:PORT (smarthost), mx (direct to the recipient's MX), sendmail:PATH (a sendmail-compatible program), dir:PATH (one file per mail, for tests)."`
	SMTPUser           string        `conf:"smtp_user" doc:"AUTH user for the smarthost (sent only over TLS)."`
	SMTPPasswordFile   string        `conf:"smtp_password_file" doc:"File holding the smarthost AUTH password."`
	StartTLS           string        `conf:"starttls" default:"opportunistic" doc:"STARTTLS on delivery: opportunistic, required or off."`
	DNSResolver        string        `conf:"dns_resolver" doc:"DNS server (host:port) for MX lookups; empty = the system's."`
	RetryBase          time.Duration `conf:"retry_base" default:"1m" doc:"First retry delay after a temporary delivery failure; doubled per attempt."`
	RetryMax           time.Duration `conf:"retry_max" default:"1h" doc:"Longest retry delay."`
	GiveUp             time.Duration `conf:"give_up" default:"120h" doc:"A mail still undelivered this long after it left the pool is dropped and counted (never bounced: a bounce would deanonymise)."`
	SendConcurrency    int           `conf:"send_concurrency" default:"8" doc:"Deliveries in progress at once."`
	Precedence         string        `conf:"precedence" doc:"If set, a Precedence: header on every mail sent (e.g. anon)."`
	ProtocolVersionStr string        `conf:"remailer_version" default:"3.0.2d" doc:"Version written after 'Mixmaster' in packet e-mails and key lines. The reference program's own keeps this node indistinguishable from Mixmaster 3.0.2d."`

	// Deliverability: TLS, DKIM and what `mixd doctor` checks.
	TLSCert            string `conf:"tls_cert" doc:"PEM certificate (chain) the SMTP listener offers with STARTTLS, re-read when the file changes (renewals need no restart). mixd init writes a self-signed one. Empty = no STARTTLS."`
	TLSKey             string `conf:"tls_key" doc:"PEM private key of tls_cert."`
	TLSVerifiedDomains string `conf:"tls_verified_domains" doc:"Recipient domains (space separated) to which direct (mx) delivery requires STARTTLS with a certificate verified for the MX host, like an MTA-STS enforce policy; others get opportunistic TLS."`
	DKIMKey            string `conf:"dkim_key" doc:"PEM private key (RSA or Ed25519) signing delivered final messages with DKIM, re-read when the file changes. mixd init writes one; mixd dkim-record prints the DNS record to publish. Empty = no signing."`
	DKIMSelector       string `conf:"dkim_selector" default:"mixd" doc:"DKIM selector: the key is published at SELECTOR._domainkey.DOMAIN. Use a new selector when rotating the key."`
	DKIMDomainName     string `conf:"dkim_domain" doc:"DKIM signing domain (d=); empty = the domain of address, which the From: of final messages uses (DMARC wants them aligned)."`
	PublicIP           string `conf:"public_ip" doc:"The IP address(es) (space separated) this node's mail leaves from, for mixd doctor; empty = the addresses of hostname."`
	DNSBL              string `conf:"dnsbl" default:"zen.spamhaus.org bl.spamcop.net psbl.surriel.com" doc:"DNS block lists (space separated) mixd doctor looks public_ip up in."`
	DoctorResolver     string `conf:"doctor_resolver" doc:"DNS server (host:port) mixd doctor asks; empty = dns_resolver, else the first nameserver of /etc/resolv.conf. Spamhaus refuses queries from big public resolvers."`
	DoctorSMTP         string `conf:"doctor_smtp" doc:"host:port where mixd doctor checks the SMTP banner and certificate; empty = hostname port 25."`

	// Processing.
	Middleman      bool          `conf:"middleman" default:"false" doc:"Middleman: final messages are not delivered but re-sent through a random remailer that delivers (dest.alw lists exceptions)."`
	ForwardTo      string        `conf:"forward_to" default:"*" doc:"Chain a middleman re-sends final messages through (names or *)."`
	ReplayExpiry   time.Duration `conf:"replay_expiry" default:"168h" doc:"How long a packet ID is remembered (Mixmaster IDEXP); packets stamped earlier than this are dropped as too old. At least 120h."`
	ChunkExpiry    time.Duration `conf:"chunk_expiry" default:"168h" doc:"Incomplete chunk sets are deleted after this (PACKETEXP)."`
	Workers        int           `conf:"workers" default:"0" doc:"Decryption workers; 0 = one per CPU."`
	News           string        `conf:"news" doc:"Mail-to-news gateway address(es), comma separated; empty = posts are refused."`
	MaxRecipients  int           `conf:"max_recipients" default:"5" doc:"Final messages with more recipients are dropped (MAXRECIPIENTS)."`
	SizeLimit      int64         `conf:"size_limit" default:"0" doc:"Final messages larger than this many bytes are dropped; 0 = no limit."`
	BinFilter      int           `conf:"bin_filter" default:"0" doc:"Binary attachments in final messages: 0 pass, 1 cut, 2 drop the message (BINFILTER)."`
	MessageID      bool          `conf:"message_id" default:"true" doc:"Add Message-ID: <md5 of body>@domain to final messages (MID)."`
	AllowedHeaders string        `conf:"allowed_headers" default:"To Cc Bcc Subject In-Reply-To References Newsgroups Followup-To Mime-Version Content-Type Content-Disposition Content-Transfer-Encoding" doc:"Header lines a final message may carry (space separated names, case-insensitive); others are removed before header.blk applies. Empty = only header.blk decides, as in Mixmaster. The default is Debian's filter list: a client-side header cannot leak through."`
	AnonName       string        `conf:"anon_name" doc:"From: of final messages; default 'Anonymous <address>'."`
	Complaints     string        `conf:"complaints" doc:"Abuse address named in the disclaimer; default abuse@ the address's domain."`

	// Services (§16): remailer-* requests, abuse mailbox, destination blocks.
	AbuseMaildir     string        `conf:"abuse_maildir" default:"abuse" doc:"Maildir (relative to the node directory or absolute) where mail to the abuse addresses (complaints, abuse@, postmaster@, remailer-admin@ the domain) is filed, never mixed with remailer traffic; any mail client reads it."`
	AbuseAutoreply   bool          `conf:"abuse_autoreply" default:"true" doc:"Answer mail to the abuse addresses with abuse.txt (AUTOREPLY), at most once per sender per abuse_reply_period; mail sent by programs is never answered."`
	AbuseReplyPeriod time.Duration `conf:"abuse_reply_period" default:"168h" doc:"A sender gets at most one automatic abuse answer per this period (remembered across restarts)."`
	Mailbox          string        `conf:"mailbox" doc:"Maildir for other mail to the remailer that is neither a packet nor a request, and bounces; empty = such mail is dropped and counted."`
	ReplyLimitSender int           `conf:"reply_limit_sender" default:"6" doc:"Answers (requests, confirmations, abuse answers) one address can get per reply_limit_window; more requests are dropped, so a forged sender cannot be mail-bombed."`
	ReplyLimitTotal  int           `conf:"reply_limit_total" default:"200" doc:"Answers in all per reply_limit_window."`
	ReplyLimitWindow time.Duration `conf:"reply_limit_window" default:"24h" doc:"Window of the answer limits; they refill evenly over it."`
	DestinationBlock bool          `conf:"destination_block" default:"true" doc:"Answer destination-block requests with a confirmation mail to the address to block, carrying a one-time token; a reply with the token appends the address to dest.blk. No one can block someone else's address. false = such requests are filed in mailbox (AUTOBLOCK n)."`
	DestBlockTTL     time.Duration `conf:"destination_block_ttl" default:"48h" doc:"How long a destination-block confirmation token is valid."`
	SignReplies      bool          `conf:"sign_replies" default:"true" doc:"Clear-sign remailer-key and remailer-help answers with the admin OpenPGP key (adminkey.sec, made at init; remailer-adminkey sends its public part, adminkey.txt). Pingers read clear-signed key answers."`

	// Pool (§12).
	PoolStrategy string        `conf:"pool_strategy" default:"poisson" doc:"Mixing strategy: timed-dynamic (Mixmaster's: pool_size, pool_rate), binomial (each pooled message leaves with probability binomial_max_percent·Φ((n − binomial_mean)/binomial_sd) per round) or poisson (each message delayed by an exponential time of mean poisson_mean, with pool_size as a floor). docs/ANONYMITY.md compares them."`
	PoolSize     int           `conf:"pool_size" default:"45" doc:"Messages kept in the pool at least (POOLSIZE); timed-dynamic and poisson."`
	PoolRate     int           `conf:"pool_rate" default:"65" doc:"Percentage of the pool sent per round at most (RATE)."`
	PoolInterval time.Duration `conf:"pool_interval" default:"15m" doc:"Time between pool rounds (SENDPOOLTIME)."`
	PoissonMean  time.Duration `conf:"poisson_mean" default:"1h" doc:"poisson: mean of each message's exponential delay."`
	BinomialMean int           `conf:"binomial_mean" default:"45" doc:"binomial: pool size at which a message leaves with half of binomial_max_percent."`
	BinomialSD   int           `conf:"binomial_sd" default:"15" doc:"binomial: spread of the normal curve in messages (0 = a step at binomial_mean)."`
	BinomialMax  int           `conf:"binomial_max_percent" default:"65" doc:"binomial: probability (%) with which each message leaves in a large pool."`
	InDummy      int           `conf:"in_dummy_percent" default:"10" doc:"Per incoming packet, probability (%) of creating a dummy, repeated while it hits (INDUMMYP, at most 84)."`
	OutDummy     int           `conf:"out_dummy_percent" default:"90" doc:"Per pool round, probability (%) of creating a dummy, repeated while it hits (OUTDUMMYP, at most 96)."`

	// Keys.
	PassphraseFile string        `conf:"passphrase_file" default:"passphrase" doc:"File with the passphrase protecting secring.mix and the pool; the environment variable MIXD_PASSPHRASE overrides it."`
	KeyBits        int           `conf:"key_bits" default:"4096" doc:"Size of keys generated by rotation (1024, 2048, 3072, 4096)."`
	KeyLifetime    time.Duration `conf:"key_lifetime" default:"4320h" doc:"Validity of a new key (180 days)."`
	KeyGrace       time.Duration `conf:"key_grace" default:"168h" doc:"An expired key still decrypts packets in flight for this long."`
	KeyOverlap     time.Duration `conf:"key_overlap" default:"720h" doc:"The hourly maintenance generates a new key when no key stays valid longer than this (KEYOVERLAPPERIOD, 30 days); keys past expiry plus key_grace are destroyed. Must be below key_lifetime."`

	// Roles and the pinger (pinger/, docs/spec/echolot-pinger.md).
	Remailer                 bool          `conf:"remailer" default:"true" doc:"Run the remailer (needs the key mixd init makes). false with pinger = true is a pinger-only node: no key, name and address are the pinger's."`
	Pinger                   bool          `conf:"pinger" default:"false" doc:"Run the pinger: scheduled pings of every remailer and chain, statistics published over HTTP and finger (Echolot-compatible lists)."`
	PingerAddress            string        `conf:"pinger_address" doc:"The pinger's own e-mail address: pings and answers to its requests come back here (its SMTP listener). Empty = address on a pinger-only node; required beside a remailer."`
	PingerListen             string        `conf:"pinger_listen" default:"127.0.0.1:2526" doc:"SMTP listener of the pinger (host:port). Mail for pinger_address must reach it; latency is measured when it arrives here."`
	PingerHTTP               string        `conf:"pinger_http" default:"127.0.0.1:8080" doc:"HTTP listener publishing mlist2.txt, mlist.txt, rlist2.txt, type2.list, pubring.mix, broken.txt, stats.json, metrics and an HTML page; empty = off."`
	PingerFinger             string        `conf:"pinger_finger" default:"127.0.0.1:7979" doc:"Finger (RFC 1288) listener: 'finger @host' prints mlist2.txt, 'finger help@host' what else can be asked. Port 79 needs the capability the systemd unit grants. Empty = off."`
	PingerRemailers          string        `conf:"pinger_remailers" doc:"Remailer addresses (space or comma separated) the pinger sends remailer-key and remailer-conf requests to; their answers build its key ring."`
	PingerSeedPubring        string        `conf:"pinger_seed_pubring" doc:"A pubring.mix whose keys the pinger imports at start and at each discovery round (for bootstrapping, or remailers that do not answer requests)."`
	PingerPingSchedule       string        `conf:"pinger_ping_schedule" default:"0 */2 * * *" doc:"Cron spec (five fields, or @every 2h, @daily): each run plans one ping through every remailer at a random moment before the next run (Echolot: one per 2 hours)."`
	PingerChainSchedule      string        `conf:"pinger_chain_schedule" default:"0 0 * * 1" doc:"Cron spec planning a chain ping through every ordered pair of remailers (Echolot: weekly)."`
	PingerChainICSchedule    string        `conf:"pinger_chain_ic_schedule" default:"0 0 * * *" doc:"Cron spec planning chain pings of the pairs in intensive care (broken or too few samples; Echolot: daily)."`
	PingerDiscoverySchedule  string        `conf:"pinger_discovery_schedule" default:"0 3 * * *" doc:"Cron spec planning remailer-key and remailer-conf requests to every remailer (Echolot: daily)."`
	PingerAllPingers         string        `conf:"pinger_allpingers" doc:"Other pingers' mlist2.txt URLs (space separated); their lists are fetched and the median view published as median/mlist2.txt."`
	PingerAllPingersSchedule string        `conf:"pinger_allpingers_schedule" default:"0 * * * *" doc:"Cron spec for fetching pinger_allpingers."`
	PingerSkewAbs            time.Duration `conf:"pinger_skew_abs" default:"15m" doc:"Outstanding-ping model: a ping of age a counts as lost with the share of latencies not above (a - pinger_skew_abs) / 0.8 (Echolot's 15 minutes)."`
	PingerChainPeriod        time.Duration `conf:"pinger_chain_period" default:"240h" doc:"Chain pings sent this recently are judged for broken chains (Echolot's chainping_period, 10 days)."`
	PingerDelimiter          string        `conf:"pinger_recipient_delimiter" default:"+" doc:"Requests go out From pinger_address with a request ID after this delimiter (pinger+r0123…@domain), so each answer is matched to the address asked. Empty = plain address (answers matched by address)."`
	PingerName               string        `conf:"pinger_name" doc:"Title of the pinger's pages; empty = 'NAME pinger'."`

	// Logging.
	LogLevel string `conf:"log_level" default:"info" doc:"debug, info, warn or error. info records start/stop, configuration problems, errors and periodic counts; debug adds per-packet reasons for drops, never addresses or IDs."`
}

// DefaultConfig returns a configuration with every default applied.
func DefaultConfig() *Config {
	c := &Config{}
	if err := conf.SetDefaults(c); err != nil {
		panic(err) // a default tag that does not parse: caught by every test
	}
	return c
}

// ParseConfig reads a configuration file's text over the defaults.
func ParseConfig(data []byte) (*Config, error) {
	c := DefaultConfig()
	if err := conf.Parse(c, data, conf.Syntax{}); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// LoadConfig reads dir/mixd.conf.
func LoadConfig(dir string) (*Config, error) {
	data, err := os.ReadFile(dir + "/" + ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", dir, ConfigFile, err)
	}
	return c, nil
}

// Validate checks values that would make the node unsafe or broken.
func (c *Config) Validate() error {
	switch {
	case c.Name == "" || strings.ContainsAny(c.Name, ". \t"):
		return fmt.Errorf("name %q: give a short name without dots or spaces", c.Name)
	case !strings.Contains(c.Address, "@"):
		return fmt.Errorf("address %q is not an e-mail address", c.Address)
	case c.MaxMessageSize < 32<<10:
		return fmt.Errorf("max_message_size %d is below one packet e-mail (32768)", c.MaxMessageSize)
	case c.PoolStrategy != "timed-dynamic" && c.PoolStrategy != "binomial" && c.PoolStrategy != "poisson":
		return fmt.Errorf("pool_strategy %q: known strategies are timed-dynamic, binomial and poisson", c.PoolStrategy)
	case c.PoissonMean <= 0 || c.BinomialMean < 0 || c.BinomialSD < 0 || c.BinomialMax < 1 || c.BinomialMax > 100:
		return fmt.Errorf("poisson_mean must be > 0, binomial_mean and binomial_sd ≥ 0, binomial_max_percent 1–100")
	case c.PoolRate < 1 || c.PoolRate > 100:
		return fmt.Errorf("pool_rate %d: give 1–100", c.PoolRate)
	case c.PoolSize < 0 || c.PoolInterval <= 0:
		return fmt.Errorf("pool_size must be ≥ 0 and pool_interval > 0")
	case c.InDummy < 0 || c.InDummy > 84 || c.OutDummy < 0 || c.OutDummy > 96:
		return fmt.Errorf("in_dummy_percent ≤ 84 and out_dummy_percent ≤ 96 (Mixmaster's caps)")
	case c.ReplayExpiry < 120*time.Hour:
		return fmt.Errorf("replay_expiry %v: at least 120h, or replayed packets get through", c.ReplayExpiry)
	case c.StartTLS != "opportunistic" && c.StartTLS != "required" && c.StartTLS != "off":
		return fmt.Errorf("starttls %q: opportunistic, required or off", c.StartTLS)
	case c.KeyBits != 1024 && c.KeyBits != 2048 && c.KeyBits != 3072 && c.KeyBits != 4096:
		return fmt.Errorf("key_bits %d: 1024, 2048, 3072 or 4096", c.KeyBits)
	case c.MaxRecipients < 1:
		return fmt.Errorf("max_recipients must be at least 1")
	case c.KeyLifetime > 0 && c.KeyOverlap >= c.KeyLifetime:
		return fmt.Errorf("key_overlap %v must be below key_lifetime %v, or every maintenance makes a key", c.KeyOverlap, c.KeyLifetime)
	case c.ReplyLimitSender < 1 || c.ReplyLimitTotal < 1 || c.ReplyLimitWindow <= 0:
		return fmt.Errorf("reply_limit_sender and reply_limit_total must be ≥ 1 and reply_limit_window > 0")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("tls_cert and tls_key: give both or neither")
	}
	if err := c.validateRoles(); err != nil {
		return err
	}
	return c.validateDeliverability()
}

// Domain is the part of the address after '@'.
func (c *Config) Domain() string {
	_, d, _ := strings.Cut(c.Address, "@")
	return d
}

// Text renders the configuration as a commented mixd.conf: every option
// with its documentation, set ones active, defaults commented out.
func (c *Config) Text() []byte {
	var b bytes.Buffer
	b.WriteString("# mixd configuration: 'name = value' lines, # comments.\n")
	b.WriteString("# Durations take Go units (90s, 15m, 2h) and d (days), w (weeks).\n")
	b.WriteString("# Commented lines show the default. Reference: docs/CONFIG.md.\n")
	v := reflect.ValueOf(c).Elem()
	for _, f := range conf.Fields(c) {
		val := formatField(v.Field(f.Index))
		b.WriteString("\n")
		for _, l := range wrap(f.Doc, 76) {
			b.WriteString("# " + l + "\n")
		}
		if val == f.Default {
			fmt.Fprintf(&b, "#%s = %s\n", f.Name, val)
		} else {
			fmt.Fprintf(&b, "%s = %s\n", f.Name, val)
		}
	}
	return b.Bytes()
}

// ConfigReference is docs/CONFIG.md's option table.
func ConfigReference() []byte {
	var b bytes.Buffer
	b.WriteString("| option | default | meaning |\n|---|---|---|\n")
	for _, f := range conf.Fields(&Config{}) {
		def := f.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", f.Name, def, f.Doc)
	}
	return b.Bytes()
}

func formatField(v reflect.Value) string {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return formatDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	return v.String()
}

// formatDuration spells a duration the way the tags do: "15m", "168h", "60s".
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
