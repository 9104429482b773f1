package client

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// docs/CLIENT.md lists every setting with its default and documentation.
func TestSettingsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CLIENT.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range SettingDocs() {
		row := fmt.Sprintf("| `%s` | | %s |", s.Name, s.Doc)
		if s.Default != "" {
			row = fmt.Sprintf("| `%s` | `%s` | %s |", s.Name, s.Default, s.Doc)
		}
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/CLIENT.md lacks the row\n%s", row)
		}
	}
}
