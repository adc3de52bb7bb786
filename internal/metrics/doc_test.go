package metrics

import (
	"errors"
	"os"
	"strings"
)

// readDoc returns the "Metrics" section of the operations guide, the one
// place the metrics are documented.
func readDoc() (string, error) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		return "", err
	}
	_, sec, ok := strings.Cut(string(b), "\n## Metrics\n")
	if !ok {
		return "", errors.New(`docs/operations.md has no section "Metrics"`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	return sec, nil
}
