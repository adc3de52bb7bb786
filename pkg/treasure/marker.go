package treasure

import (
	"regexp"
	"strings"
)

// The ownership marker is the last line of an object's description:
//
//	[managed-by: cas-reconciler source=<owner> hash=<fingerprint>]
//
// separated from the author's description by a blank line. Treasure Data
// has no labels or annotations on these objects, so the description is the
// only place that survives in the object itself. The fingerprint (see
// plan.Fingerprint) is of what the reconciler wrote; markers written by
// older versions have no hash, or no source either.
const markerPrefix = "[managed-by: cas-reconciler"

var markerRE = regexp.MustCompile(`(?:\s*\n)?\s*\[managed-by: cas-reconciler(?: source=([^\]\s]*))?(?: hash=([0-9a-f]+))?\]\s*$`)

// marker is what an ownership marker records.
type marker struct {
	owned       bool
	owner       string
	fingerprint string
}

// withMarker appends the marker for owner to desc, with the fingerprint
// when it is not empty.
func withMarker(desc, owner, fingerprint string) string {
	desc = strings.TrimRight(stripMarkerOnly(desc), " \t\r\n")
	m := markerPrefix + " source=" + owner
	if fingerprint != "" {
		m += " hash=" + fingerprint
	}
	m += "]"
	if desc == "" {
		return m
	}
	return desc + "\n\n" + m
}

// splitMarker strips the marker from desc and reports what it records.
func splitMarker(desc string) (clean string, m marker) {
	loc := markerRE.FindStringSubmatchIndex(desc)
	if loc == nil {
		return desc, marker{}
	}
	m.owned = true
	if loc[2] >= 0 {
		m.owner = desc[loc[2]:loc[3]]
	}
	if loc[4] >= 0 {
		m.fingerprint = desc[loc[4]:loc[5]]
	}
	return desc[:loc[0]], m
}

func stripMarkerOnly(desc string) string {
	clean, _ := splitMarker(desc)
	return clean
}
