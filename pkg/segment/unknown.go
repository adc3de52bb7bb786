package segment

// Treasure Data's published response schemas leave out some fields the
// reconciler writes. An observation lists them in Meta.Unknown by these
// paths (those of plan's field diffs); per-item paths are built with
// AttributePath, BehaviorPath and ColumnPath.
const (
	UnknownDescription   = "description"
	UnknownCustomersName = "customers_name"
	UnknownGroup         = "group"
	UnknownType          = "type"
	UnknownCatalog       = "catalog"
	UnknownTime          = "time"
)

// AttributePath names a field of an attribute, as in Meta.Unknown.
func AttributePath(attr, field string) string { return "attributes." + attr + "." + field }

// BehaviorPath names a field of a behavior.
func BehaviorPath(behavior, field string) string { return "behaviors." + behavior + "." + field }

// ColumnPath names a field of a behavior column.
func ColumnPath(behavior, column, field string) string {
	return "behaviors." + behavior + ".columns." + column + "." + field
}
