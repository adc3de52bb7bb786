package metrics

import "os"

func readDoc() (string, error) {
	b, err := os.ReadFile("../../docs/daemon.md")
	return string(b), err
}
