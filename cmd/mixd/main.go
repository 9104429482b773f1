// Command mixd is the remailer daemon and its operator commands.
//
// The daemon itself (init, run, process, flush, pool, backup, key) is being
// built; this binary so far only reports its version.
package main

import (
	"fmt"
	"os"

	"github.com/mixgo/mixgo/packet"
)

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Printf("mixd (mixgo), Mixmaster protocol 2, compatible with %s\n", packet.Version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: mixd version")
	os.Exit(2)
}
