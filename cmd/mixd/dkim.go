package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mixgo/mixgo/mix"
)

// cmdDKIMRecord prints the DNS record publishing the node's DKIM key.
func cmdDKIMRecord(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("dkim-record", stderr)
	valueOnly := fs.Bool("value", false, "print only the record's value (for a DNS provider's web form)")
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	cfg, err := mix.LoadConfig(*dir)
	if err != nil {
		return err
	}
	key, err := mix.LoadDKIMKey(*dir, cfg)
	if err != nil {
		return err
	}
	if key == nil {
		return fmt.Errorf("dkim_key is not set in %s: DKIM signing is off", mix.ConfigFile)
	}
	value, err := mix.DKIMRecord(key.Public())
	if err != nil {
		return err
	}
	if *valueOnly {
		fmt.Fprintln(stdout, value)
		return nil
	}
	fmt.Fprintf(stdout, "%s IN TXT %s\n", cfg.DKIMRecordName(), zoneStrings(value))
	return nil
}

// zoneStrings quotes s as zone-file character strings of at most 255
// bytes each (one TXT string's limit; a long key needs several).
func zoneStrings(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	parts = append(parts, `"`+s+`"`)
	if len(parts) == 1 {
		return parts[0]
	}
	return "( " + strings.Join(parts, " ") + " )"
}
