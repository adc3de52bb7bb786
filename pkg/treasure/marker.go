package treasure

import (
	"regexp"
	"strings"
)

// The ownership marker is the last line of an object's description:
//
//	[managed-by: cas-reconciler source=<owner>]
//
// separated from the author's description by a blank line. Treasure Data
// has no labels or annotations on these objects, so the description is the
// only place that survives in the object itself.
const markerPrefix = "[managed-by: cas-reconciler"

var markerRE = regexp.MustCompile(`(?:\s*\n)?\s*\[managed-by: cas-reconciler(?: source=([^\]\s]*))?\]\s*$`)

// withMarker appends the marker for owner to desc.
func withMarker(desc, owner string) string {
	desc = strings.TrimRight(stripMarkerOnly(desc), " \t\r\n")
	m := markerPrefix + " source=" + owner + "]"
	if desc == "" {
		return m
	}
	return desc + "\n\n" + m
}

// splitMarker strips the marker from desc and reports the owner it names.
func splitMarker(desc string) (clean string, owned bool, owner string) {
	loc := markerRE.FindStringSubmatchIndex(desc)
	if loc == nil {
		return desc, false, ""
	}
	if loc[2] >= 0 {
		owner = desc[loc[2]:loc[3]]
	}
	return desc[:loc[0]], true, owner
}

func stripMarkerOnly(desc string) string {
	clean, _, _ := splitMarker(desc)
	return clean
}
