package mix

import (
	"fmt"
	"strings"
)

// validateRoles checks the remailer and pinger switches (the pinger_*
// options themselves are checked by the pinger when it starts).
func (c *Config) validateRoles() error {
	switch {
	case !c.Remailer && !c.Pinger:
		return fmt.Errorf("remailer = false and pinger = false: nothing to run")
	case c.Pinger && c.Remailer && c.PingerAddress == "":
		return fmt.Errorf("pinger_address: beside a remailer the pinger needs its own address")
	case c.Pinger && c.PingerAddress != "" && !strings.Contains(c.PingerAddress, "@"):
		return fmt.Errorf("pinger_address %q is not an e-mail address", c.PingerAddress)
	case c.Pinger && c.Remailer && strings.EqualFold(c.PingerAddress, c.Address):
		return fmt.Errorf("pinger_address must differ from the remailer's address")
	case c.Pinger && c.Remailer && c.PingerListen == c.Listen:
		return fmt.Errorf("pinger_listen must differ from listen")
	}
	return nil
}

// PingerAddr is the pinger's address: pinger_address, else (pinger-only
// node) address.
func (c *Config) PingerAddr() string {
	if c.PingerAddress != "" {
		return c.PingerAddress
	}
	return c.Address
}
