package mix

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"
)

// The texts of the remailer-key, -conf and -stats answers, laid out as
// 3.0.2d's key(), conf() and stats() write them (vectors
// r-responders-alpha): pingers find the Remailer-Type: line, the
// $remailer{...} capabilities line and the key blocks by pattern.

// CapString is the capabilities line of key and conf answers (§16.2), as
// a stock 3.0.2d with MIX y, PGP n writes it: its Type I defaults
// (remix, inflt50, rhop5) included, so that the node looks like one.
func CapString(cfg *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, `$remailer{"%s"} = "<%s> mix`, cfg.Name, cfg.Address)
	if cfg.Middleman {
		b.WriteString(" middle")
	}
	b.WriteString(" remix inflt50 rhop5")
	if cfg.PoolSize >= 5 {
		b.WriteString(" reord")
	}
	if cfg.News != "" {
		b.WriteString(" post")
	}
	if cfg.SizeLimit > 0 {
		fmt.Fprintf(&b, " klen%d", cfg.SizeLimit/1024)
	}
	b.WriteString(`";`)
	return b.String()
}

// keyAnswer is the text of the remailer-key answer: the capabilities
// line, 3.0.2d's note, then every key clients may use now, newest first
// (3.0.2d's all_my_pubkeys.txt: during an overlap both keys).
func (n *Node) keyAnswer(now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(CapString(n.Cfg) + "\n\n")
	b.WriteString("Here is the Mixmaster key:\n")
	b.WriteString("Use only one mixmaster key per remailer unless your client can handle multiple.\n")
	b.WriteString("A key length of '258' in this file means 1024-bit RSA as y=(x-2)*4.\n")
	b.WriteString("1024-bits offers inferior security to the larger keys that require at least version 3.0.2.\n")
	b.WriteString("http://www.zen19351.zen.co.uk/mixmaster302/\n\n")
	b.WriteString("=-=-=-=-=-=-=-=-=-=-=-=\n")
	n.mu.RLock()
	keys := validKeys(n.secring.Keys(), now)
	own := n.own
	n.mu.RUnlock()
	if len(keys) == 0 && own != nil {
		b.Write(own.KeyTxt())
	}
	for _, k := range keys {
		b.Write(k.Public(n.Cfg.Name, n.Cfg.Address, "2:"+n.Cfg.ProtocolVersionStr, Capabilities(n.Cfg)).KeyTxt())
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// patternLines are a pattern file's lines that are neither empty nor
// comments.
func (n *Node) patternLines(name string) []string {
	data, err := os.ReadFile(n.path(name))
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimRight(l, "\r")
		if l != "" && l[0] != '#' {
			out = append(out, l)
		}
	}
	return out
}

// confAnswer is the text of the remailer-conf answer (3.0.2d's conf()
// with LISTSUPPORTED y). allowed_headers, which 3.0.2d does not have, is
// listed after the header filters when set.
func (n *Node) confAnswer() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Remailer-Type: Mixmaster %s\n", n.Cfg.ProtocolVersionStr)
	b.WriteString("Supported format:   Mixmaster\n")
	fmt.Fprintf(&b, "Pool size: %d\n", n.Cfg.PoolSize)
	if n.Cfg.SizeLimit > 0 {
		fmt.Fprintf(&b, "Maximum message size: %d kB\n", n.Cfg.SizeLimit/1024)
	}
	if n.Cfg.Middleman {
		for i, l := range n.patternLines(DestAllowFile) {
			if i == 0 {
				b.WriteString("In addition to other remailers, this remailer also sends mail to these\n addresses directly:\n")
			}
			fmt.Fprintf(&b, "   %s\n", l)
		}
	}
	for i, l := range n.patternLines(HeaderBlockFile) {
		if i == 0 {
			b.WriteString("The following header lines will be filtered:\n")
		}
		if len(l) > 3 && strings.HasSuffix(l, "/q") {
			l = l[:len(l)-1] + " => delete message"
		}
		fmt.Fprintf(&b, "   %s\n", l)
	}
	if f := strings.Fields(n.Cfg.AllowedHeaders); len(f) > 0 {
		b.WriteString("Only these header lines are passed on:\n")
		fmt.Fprintf(&b, "   %s\n", strings.Join(f, " "))
	}
	blocked := 0
	for _, file := range []string{DestBlockFile, RabBlockFile} {
		for _, l := range n.patternLines(file) {
			if strings.Contains(l, "@") {
				continue // addresses are not listed
			}
			if blocked == 0 {
				if n.Cfg.News != "" {
					b.WriteString("The following newsgroups/domains are blocked:\n")
				} else {
					b.WriteString("The following domains are blocked:\n")
				}
			}
			blocked++
			fmt.Fprintf(&b, "   %s\n", l)
		}
	}
	if blocked == 0 && n.Cfg.News != "" {
		b.WriteString("Note that other newsgroups may be unavailable at the remailer's news server.\n")
	}
	b.WriteString("\n" + CapString(n.Cfg) + "\n")
	b.WriteString("\nSUPPORTED MIXMASTER (TYPE II) REMAILERS\n")
	n.mu.RLock()
	ring := n.pubring
	n.mu.RUnlock()
	for _, k := range ring.Keys() {
		b.WriteString(k.Type2Line() + "\n")
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// statsAnswer is the text of the remailer-stats answer.
func (n *Node) statsAnswer(now time.Time) ([]byte, error) {
	cur, err := n.currentSample(now)
	if err != nil {
		return nil, err
	}
	samples, err := readStatSamples(n.path(StatsFile))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return renderStats(samples, cur), nil
}
