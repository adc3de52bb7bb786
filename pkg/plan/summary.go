package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// summaryLines renders the fields of a created or deleted object.
func summaryLines(obj any) []string {
	q := strconv.Quote
	switch o := obj.(type) {
	case *segment.Parent:
		lines := []string{
			"connection: " + q(o.Connection),
			"customers: " + q(o.Customers.Table.String()) + " key " + q(o.Customers.Key),
			"timezone: " + q(o.Timezone),
		}
		if o.Description != "" {
			lines = append(lines, "description: "+q(normDescription(o.Description)))
		}
		f := parentFields(o, nil)
		keys := make([]string, 0, len(f))
		for k := range f {
			if strings.HasPrefix(k, "attributes.") || strings.HasPrefix(k, "behaviors.") {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			lines = append(lines, k+": "+f[k])
		}
		return lines
	case *segment.Folder:
		lines := []string{"path: " + q(o.Path)}
		if o.Description != "" {
			lines = append(lines, "description: "+q(normDescription(o.Description)))
		}
		return lines
	case *segment.Segment:
		lines := []string{fmt.Sprintf("folder: %q", o.Folder)}
		if o.Description != "" {
			lines = append(lines, "description: "+q(normDescription(o.Description)))
		}
		for _, l := range ruleLines(&o.Rule) {
			lines = append(lines, "rule: "+l)
		}
		return lines
	case *segment.Activation:
		return activationSummary(o)
	}
	return nil
}
