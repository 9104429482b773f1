// Command mix is the client of the remailer network: it builds Mixmaster
// Type II messages for chains of remailers, and decodes packets for
// debugging and interoperability checks.
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `usage: mix COMMAND [flags]

commands:
  update          fetch the remailer lists (keys, statistics) from a pinger
  list            show the known remailers with their statistics
  chain           show the chain 'send' would choose, and why
  send            build the packets of a message and send them or write them as e-mails
  packet decode   decrypt one packet with a secret key ring and print it as JSON

The client directory (--dir) is $MIXDIR, else ~/.mix.

Run 'mix COMMAND -h' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch {
	case args[0] == "send":
		err = cmdSend(args[1:], stdin, stdout, stderr)
	case args[0] == "update":
		err = cmdUpdate(args[1:], stdout, stderr)
	case args[0] == "list":
		err = cmdList(args[1:], stdout, stderr)
	case args[0] == "chain":
		err = cmdChain(args[1:], stdout, stderr)
	case args[0] == "packet" && len(args) > 1 && args[1] == "decode":
		err = cmdDecode(args[2:], stdin, stdout, stderr)
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "mix: unknown command %q\n%s", strings.Join(args, " "), usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		// One line naming the reason: scripts and checks read it.
		fmt.Fprintf(stderr, "mix: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// listFlag collects a repeated flag (--to, --header).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// randReader is the randomness every packet is built from.
var randReader io.Reader = rand.Reader
