package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mixgo/mixgo/mix"
)

// cmdImport is `mixd import-mixmaster --dir D [--passphrase-file F] MIXDIR`:
// a node in D from a Mixmaster installation, keeping its keys, name and
// address, with a report of what was mapped and what was not.
func cmdImport(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("import-mixmaster", stderr)
	pass := fs.String("passphrase-file", "", "`file` with the passphrase of the Mixmaster secring.mix (default: mix.cfg's PASSPHRASE)")
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give the Mixmaster directory (the one holding mix.cfg)", errUsage)
	}
	rep, err := mix.ImportMixmaster(fs.Arg(0), *dir, mix.ImportOptions{PassphraseFile: *pass})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported remailer %s <%s> into %s\n", rep.Name, rep.Address, *dir)
	fmt.Fprintf(stdout, "keys kept: %s\n", strings.Join(rep.KeyIDs, " "))
	fmt.Fprintln(stdout, "\nmapped:")
	for _, m := range rep.Mapped {
		fmt.Fprintf(stdout, "  %s\n", m)
	}
	if len(rep.NotMapped) > 0 {
		fmt.Fprintln(stdout, "\nnot mapped:")
		for _, m := range rep.NotMapped {
			fmt.Fprintf(stdout, "  %s\n", m)
		}
	}
	fmt.Fprintf(stdout, "\nreview %s, then run: mixd run --dir %s\n", filepath.Join(*dir, mix.ConfigFile), *dir)
	return nil
}

// cmdBlock is `mixd block-destination --dir D ADDRESS...`: the operator
// blocks addresses (or @domains) in dest.blk; a running daemon applies
// the change within a second.
func cmdBlock(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, dir := flags("block-destination", stderr)
	if err := parse(fs, dir, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: give the address(es) to block", errUsage)
	}
	for _, a := range fs.Args() {
		added, err := mix.BlockDestination(*dir, a)
		if err != nil {
			return err
		}
		if added {
			fmt.Fprintf(stdout, "blocked %s\n", a)
		} else {
			fmt.Fprintf(stdout, "%s was blocked already\n", a)
		}
	}
	return nil
}
