package spec

import (
	"fmt"
	"slices"
	"strings"
)

// nearest returns the candidate closest to name, if one is close enough to
// be a likely typo.
func nearest(name string, candidates []string) (string, bool) {
	best, bestD := "", -1
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return c, true
		}
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, len([]rune(name))/3)
	if bestD < 0 || bestD > limit {
		return "", false
	}
	return best, true
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

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
