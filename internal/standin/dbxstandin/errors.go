package dbxstandin

import "fmt"

// SQLError is a statement failure as a Databricks SQL warehouse reports it:
// an error class, a SQLSTATE and a message. Error renders it the way
// Databricks does, "[CLASS] message SQLSTATE: XXXXX".
type SQLError struct {
	Class   string
	State   string
	Message string
}

// Error returns the Databricks-style text of the error.
func (e *SQLError) Error() string {
	return fmt.Sprintf("[%s] %s SQLSTATE: %s", e.Class, e.Message, e.State)
}

// SQLSTATE values used by the stand-in.
const (
	StateSyntax            = "42601"
	StateTableNotFound     = "42P01"
	StatePermission        = "42501"
	StateColumnNotFound    = "42703"
	StateRoutineNotFound   = "42883"
	StateInvalidParameter  = "42P02"
	StateUnsupported       = "0A000"
	StateCastInvalid       = "22018"
	StateDivideByZero      = "22012"
	StateInternal          = "XX000"
	StateDatatypeMismatch  = "42K09"
	StateAmbiguousRef      = "42702"
	StateSchemaNotFound    = "42704"
	StateNumericOutOfRange = "22003"
)

func syntaxError(format string, args ...any) *SQLError {
	return &SQLError{Class: "PARSE_SYNTAX_ERROR", State: StateSyntax, Message: "Syntax error at or near " + fmt.Sprintf(format, args...) + "."}
}

func tableNotFound(name string) *SQLError {
	return &SQLError{
		Class: "TABLE_OR_VIEW_NOT_FOUND",
		State: StateTableNotFound,
		Message: fmt.Sprintf("The table or view %s cannot be found. Verify the spelling and correctness of the schema and catalog. "+
			"If you did not qualify the name with a schema, verify the current_schema() output, or qualify the name with the correct schema and catalog.", name),
	}
}

// noSuchCatalog is Databricks' answer to a statement naming a catalog
// that does not exist (USE CATALOG, SHOW ... IN, the session's initial
// catalog).
func noSuchCatalog(name string) *SQLError {
	return &SQLError{Class: "NO_SUCH_CATALOG_EXCEPTION", State: StateSchemaNotFound,
		Message: fmt.Sprintf("Catalog '%s' was not found. Please verify the catalog name and then retry the query or command again.", name)}
}

// schemaNotFound is Databricks' answer to a statement naming a schema that
// does not exist in an existing catalog.
func schemaNotFound(catalog, schema string) *SQLError {
	return &SQLError{Class: "SCHEMA_NOT_FOUND", State: StateSchemaNotFound,
		Message: fmt.Sprintf("The schema `%s`.`%s` cannot be found. Verify the spelling and correctness of the schema and catalog. "+
			"If you did not qualify the name with a catalog, verify the current_schema() output, or qualify the name with the correct catalog.", catalog, schema)}
}

func insufficientPermissions(privilege, kind, name string) *SQLError {
	return &SQLError{
		Class:   "INSUFFICIENT_PERMISSIONS",
		State:   StatePermission,
		Message: fmt.Sprintf("Insufficient privileges: User does not have %s on %s '%s'.", privilege, kind, name),
	}
}
