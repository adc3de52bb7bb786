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
//
// A parent segment's fingerprint covers only what Treasure's published
// response schema returns (see documentedParentFields), so that a Treasure
// that leaves out the undocumented fields gives back the fingerprint that
// was written.
func Fingerprint(obj any) string {
	var parts []string
	switch o := obj.(type) {
	case *segment.Parent:
		fields := documentedParentFields(o)
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
	case *segment.Activation:
		// Connector settings written as references are not part of it:
		// Treasure's copy of a secret is never read.
		fields := activationFields(o, true)
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts = append(parts, "activation")
		for _, k := range keys {
			parts = append(parts, k+"="+fields[k])
		}
	default:
		return ""
	}
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])[:fingerprintLen]
}

// documentedParentFields returns the fields of a parent segment that
// Treasure's published ComposableAudience response documents: description,
// time zone, the Customers table with its catalog and key, each attribute's
// column, schema, table and key, and each behavior's schema, table, key and
// column mapping. Left out: the Customers display name, attribute groups,
// the catalog of each attribute and behavior table (not in the schema), the
// time column (optional) and the ION types (Treasure fills omitted ones from
// the warehouse). A hand edit of only those is not seen as drift.
func documentedParentFields(p *segment.Parent) map[string]string {
	m := map[string]string{
		"description": normDescription(p.Description),
		"timezone":    p.Timezone,
		"customers":   p.Customers.Table.String() + " key " + p.Customers.Key,
	}
	for _, a := range p.Attributes {
		t := p.Customers
		if a.Join != nil {
			t = *a.Join
		}
		m["attributes."+a.Name] = "column " + cmpDefault(a.Column, a.Name) + " table " + t.Schema + "." + t.Table.Table + " key " + t.Key
	}
	for _, b := range p.Behaviors {
		m["behaviors."+b.Name] = b.Table.Schema + "." + b.Table.Table + " key " + b.Key
		for _, c := range b.Columns {
			m["behaviors."+b.Name+".columns."+c.Name] = "column " + c.SourceColumn()
		}
	}
	return m
}
