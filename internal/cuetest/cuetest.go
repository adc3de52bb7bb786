// Package cuetest holds CUE inputs shared by tests.
package cuetest

import (
	"fmt"
	"strings"
)

// Explosive returns a small CUE file of package pkg whose evaluation needs
// memory exponential in its length: each list is the previous one twice.
func Explosive(pkg string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n\nimport \"list\"\n\n_l0: [1, 2]\n", pkg)
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "_l%d: list.Concat([_l%d, _l%d])\n", i, i-1, i-1)
	}
	return b.String()
}
