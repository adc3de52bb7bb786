package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// fingerprintLen is the length in hex digits of a fingerprint (64 bits).
const fingerprintLen = 16

// Fingerprint returns a short hash of what the reconciler writes of an
// object (*segment.Parent, *segment.Folder or *segment.Segment), after the
// same normalization the plan compares with: equal objects have equal
// fingerprints. Apply records the fingerprint of what it writes in the
// ownership marker; an observed object whose fingerprint differs from its
// marker's was changed by someone else, whoever that was (drift). Ids,
// timestamps and the marker itself are not part of it. It returns "" for
// other values.
func Fingerprint(obj any) string {
	var parts []string
	switch o := obj.(type) {
	case *segment.Parent:
		fields := parentFields(o, nil)
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts = append(parts, "parent", "connection="+o.ConnectionID)
		for _, k := range keys {
			parts = append(parts, k+"="+fields[k])
		}
	case *segment.Folder:
		parts = append(parts, "folder", normDescription(o.Description))
	case *segment.Segment:
		parts = append(parts, "segment", normDescription(o.Description), o.Folder, canonicalRule(&o.Rule))
	default:
		return ""
	}
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])[:fingerprintLen]
}
