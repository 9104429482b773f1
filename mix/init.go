package mix

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mixgo/mixgo/keyring"
)

// InitOptions are what `mixd init` asks for; everything else takes the
// defaults of Config.
type InitOptions struct {
	Name, Address string
	KeyBits       int // 0 = 4096
	Middleman     bool
	Listen        string // "" = default
	Deliver       string // "" = default
	Hostname      string // "" = default; also the self-signed certificate's name
	Now           time.Time
}

// Init creates a node directory: a commented mixd.conf, a random
// passphrase, a fresh key (secring.mix, key.txt), the pool salt, a
// self-signed STARTTLS certificate, a DKIM key and the operator's filter
// files. It refuses to overwrite an existing node.
func Init(dir string, o InitOptions) (*keyring.PublicKey, error) {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a node (%s exists)", dir, ConfigFile)
	}
	cfg := DefaultConfig()
	cfg.Name, cfg.Address, cfg.Middleman = strings.ToLower(o.Name), o.Address, o.Middleman
	if o.KeyBits != 0 {
		cfg.KeyBits = o.KeyBits
	}
	if o.Listen != "" {
		cfg.Listen = o.Listen
	}
	if o.Deliver != "" {
		cfg.Deliver = o.Deliver
	}
	if o.Hostname != "" {
		cfg.Hostname = o.Hostname
	}
	cfg.TLSCert, cfg.TLSKey, cfg.DKIMKey = TLSCertFile, TLSKeyFile, DKIMKeyFile
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	pass := []byte(base64.RawURLEncoding.EncodeToString(secret))
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	key, err := keyring.Generate(cfg.KeyBits, o.Now, cfg.KeyLifetime)
	if err != nil {
		return nil, fmt.Errorf("generating the key: %w", err)
	}
	sec, err := keyring.EncodeSecretKey(rand.Reader, key, pass)
	if err != nil {
		return nil, err
	}
	pub := key.Public(cfg.Name, cfg.Address, "2:"+cfg.ProtocolVersionStr, Capabilities(cfg))
	tlsCert, tlsKey, err := SelfSignedCert(cfg.Hostname, o.Now)
	if err != nil {
		return nil, err
	}
	dkimKey, err := GenerateDKIMKey()
	if err != nil {
		return nil, fmt.Errorf("generating the DKIM key: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{cfg.PassphraseFile, append(pass, '\n')},
		{PoolSaltFile, salt},
		{SecringFile, sec},
		{KeyFile, pub.KeyTxt()},
		{PubringFile, pub.KeyTxt()},
		{TLSCertFile, tlsCert},
		{TLSKeyFile, tlsKey},
		{DKIMKeyFile, dkimKey},
	}
	for _, f := range defaultRuleFiles() {
		files = append(files, struct {
			name string
			data []byte
		}{f.name, f.data})
	}
	svc, err := serviceFiles(cfg, pass, o.Now) // admin key, help and abuse texts (services.go)
	if err != nil {
		return nil, err
	}
	files = append(files, svc...)
	files = append(files, struct {
		name string
		data []byte
	}{ConfigFile, cfg.Text()})
	for _, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), f.data); err != nil {
			return nil, err
		}
	}
	return pub, nil
}

// Capabilities is the key line's capability field (§14.1): M for a
// middleman, then C, with Nm when a news gateway is set.
func Capabilities(cfg *Config) keyring.Caps {
	c := ""
	if cfg.Middleman {
		c = "M"
	}
	c += "C"
	if cfg.News != "" {
		c += "Nm"
	}
	return keyring.Caps(c)
}

// writeNew writes a file that must not exist yet, mode 0600, fsync'd.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists already", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
