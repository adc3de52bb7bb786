package spec

import (
	"fmt"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"slices"
	"strings"
)

// nearest returns the candidate closest to name, if one is close enough to
// be a likely typo.
func nearest(name string, candidates []string) (string, bool) { return diag.Nearest(name, candidates) }

// didYouMean renders a hint naming the nearest candidate and listing the
// candidates (at most a dozen).
func didYouMean(kind, name string, candidates []string) string {
	var b strings.Builder
	if n, ok := nearest(name, candidates); ok {
		fmt.Fprintf(&b, "did you mean %q? ", n)
	}
	if len(candidates) == 0 {
		fmt.Fprintf(&b, "there are no %ss", kind)
		return b.String()
	}
	sorted := slices.Clone(candidates)
	slices.Sort(sorted)
	more := ""
	if len(sorted) > 12 {
		more = fmt.Sprintf(" and %d more", len(sorted)-12)
		sorted = sorted[:12]
	}
	fmt.Fprintf(&b, "known %ss: %s%s", kind, strings.Join(sorted, ", "), more)
	return b.String()
}

func sortStrings(s []string) { slices.Sort(s) }
