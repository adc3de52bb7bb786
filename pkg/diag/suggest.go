package diag

import "strings"

// Nearest returns the candidate closest to name, when it is close enough to
// be a likely typo: a case-insensitive match, or an edit distance (an
// adjacent swap counting as one edit) of at most max(2, len(name)/3).
// It backs the "did you mean" hints of every check.
func Nearest(name string, candidates []string) (string, bool) {
	best, bestD := "", -1
	lname := strings.ToLower(name)
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return c, true
		}
		d := editDistance(lname, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(2, len([]rune(name))/3) {
		return "", false
	}
	return best, true
}

// editDistance is the Levenshtein distance between a and b, counting an
// adjacent transposition as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
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
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
