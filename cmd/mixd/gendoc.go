package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/mixgo/mixgo/mix"
)

// cmdGendoc rewrites the option table of docs/CONFIG.md between its
// markers from the code (make docs).
func cmdGendoc(args []string, _ io.Reader, _, _ io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: mixd gendoc docs/CONFIG.md", errUsage)
	}
	doc, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	const begin, end = "<!-- options:begin -->\n", "<!-- options:end -->"
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q … %q markers", args[0], begin, end)
	}
	out := append(append(append([]byte{}, doc[:i+len(begin)]...), mix.ConfigReference()...), doc[j:]...)
	return os.WriteFile(args[0], out, 0o644)
}
