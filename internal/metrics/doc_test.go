package metrics

import "os"

func readDoc() (string, error) {
	b, err := os.ReadFile("../../README.md")
	return string(b), err
}
