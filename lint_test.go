package gateway_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLint keeps the tree gofmt-, vet- and staticcheck-clean as part of the one test command.
func TestLint(t *testing.T) {
	if testing.Short() {
		t.Skip("lint skipped in -short mode")
	}
	for _, c := range [][]string{
		{"gofmt", "-l", "."},
		{"go", "vet", "./..."},
		{"go", "tool", "staticcheck", "./..."},
	} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}
