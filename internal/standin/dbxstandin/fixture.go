package dbxstandin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Fixture describes the fake Unity Catalog a Server serves: catalogs with
// schemas, tables and sample rows, the principals that may connect and the
// grants they hold. It can be written in Go or loaded from YAML or JSON with
// LoadFixture.
type Fixture struct {
	// DefaultCatalog and DefaultSchema are the session namespace when the
	// client sends none. They default to the first catalog and its first
	// schema.
	DefaultCatalog string `json:"default_catalog,omitempty" yaml:"default_catalog,omitempty"`
	DefaultSchema  string `json:"default_schema,omitempty" yaml:"default_schema,omitempty"`

	Catalogs   []Catalog   `json:"catalogs" yaml:"catalogs"`
	Principals []Principal `json:"principals" yaml:"principals"`
	Grants     []Grant     `json:"grants,omitempty" yaml:"grants,omitempty"`
}

// Catalog is a Unity Catalog catalog.
type Catalog struct {
	Name    string   `json:"name" yaml:"name"`
	Owner   string   `json:"owner,omitempty" yaml:"owner,omitempty"`
	Comment string   `json:"comment,omitempty" yaml:"comment,omitempty"`
	Schemas []Schema `json:"schemas" yaml:"schemas"`
}

// Schema is a schema inside a catalog.
type Schema struct {
	Name    string  `json:"name" yaml:"name"`
	Owner   string  `json:"owner,omitempty" yaml:"owner,omitempty"`
	Comment string  `json:"comment,omitempty" yaml:"comment,omitempty"`
	Tables  []Table `json:"tables" yaml:"tables"`
}

// Table types accepted in Table.Type.
const (
	TableManaged = "MANAGED"
	TableView    = "VIEW"
)

// Table is a table or view with its columns and sample data. Rows holds
// inline rows (one value per column, in column order; nil is NULL; arrays,
// maps and structs as YAML/JSON lists and objects). Generate, when set,
// appends deterministic generated rows after the inline ones.
type Table struct {
	Name        string    `json:"name" yaml:"name"`
	Type        string    `json:"type,omitempty" yaml:"type,omitempty"` // MANAGED (default) or VIEW
	Owner       string    `json:"owner,omitempty" yaml:"owner,omitempty"`
	Comment     string    `json:"comment,omitempty" yaml:"comment,omitempty"`
	Created     time.Time `json:"created,omitzero" yaml:"created,omitempty"`
	LastAltered time.Time `json:"last_altered,omitzero" yaml:"last_altered,omitempty"`
	Columns     []Column  `json:"columns" yaml:"columns"`
	Rows        [][]any   `json:"rows,omitempty" yaml:"rows,omitempty"`
	Generate    *Generate `json:"generate,omitempty" yaml:"generate,omitempty"`
}

// Column is a table column. Type is a Databricks type string such as
// STRING, BIGINT, DECIMAL(12,2), ARRAY<STRING>, MAP<STRING,INT> or
// STRUCT<a:INT>. Columns are nullable unless NotNull is set. Gen says how
// generated rows fill the column.
type Column struct {
	Name    string     `json:"name" yaml:"name"`
	Type    string     `json:"type" yaml:"type"`
	NotNull bool       `json:"not_null,omitempty" yaml:"not_null,omitempty"`
	Comment string     `json:"comment,omitempty" yaml:"comment,omitempty"`
	Gen     *ColumnGen `json:"gen,omitempty" yaml:"gen,omitempty"`
}

// Generate asks for Rows generated rows, reproducible from Seed.
type Generate struct {
	Rows int    `json:"rows" yaml:"rows"`
	Seed uint64 `json:"seed" yaml:"seed"`
}

// Generator kinds accepted in ColumnGen.Kind.
const (
	GenSeq       = "seq"       // Format applied to the 1-based row number
	GenRef       = "ref"       // Format applied to a random number in [1, Max]
	GenChoice    = "choice"    // one of Values (weighted by Weights when given)
	GenInt       = "int"       // integer in [Min, Max]
	GenFloat     = "float"     // number in [Min, Max], rounded to Scale digits
	GenBool      = "bool"      // true with probability P
	GenDate      = "date"      // day in [From, To]
	GenTimestamp = "timestamp" // second in [From, To]
	GenEpoch     = "epoch"     // Unix seconds in [From, To]
	GenList      = "list"      // 0..Max distinct entries of Values, as an array
	GenEmail     = "email"     // lower-cased Format(row number) + "@" + one of Values
	GenName      = "name"      // one of a built-in list of first names
)

// ColumnGen describes how a generated column is filled. Every generated
// value is a pure function of the table seed, the column name and the row
// number, so data is identical on every load.
type ColumnGen struct {
	Kind    string    `json:"kind" yaml:"kind"`
	Format  string    `json:"format,omitempty" yaml:"format,omitempty"`
	Values  []string  `json:"values,omitempty" yaml:"values,omitempty"`
	Weights []int     `json:"weights,omitempty" yaml:"weights,omitempty"`
	Min     float64   `json:"min,omitempty" yaml:"min,omitempty"`
	Max     float64   `json:"max,omitempty" yaml:"max,omitempty"`
	Scale   int       `json:"scale,omitempty" yaml:"scale,omitempty"`
	P       float64   `json:"p,omitempty" yaml:"p,omitempty"`
	From    time.Time `json:"from,omitzero" yaml:"from,omitempty"`
	To      time.Time `json:"to,omitzero" yaml:"to,omitempty"`
	// Nulls is the fraction of rows left NULL.
	Nulls float64 `json:"nulls,omitempty" yaml:"nulls,omitempty"`
}

// Principal is a user or service principal and the personal access tokens
// that authenticate as it.
type Principal struct {
	Name   string   `json:"name" yaml:"name"`
	Tokens []string `json:"tokens" yaml:"tokens"`
}

// Privileges accepted in Grant.Privilege.
const (
	PrivUseCatalog    = "USE CATALOG"
	PrivUseSchema     = "USE SCHEMA"
	PrivSelect        = "SELECT"
	PrivAllPrivileges = "ALL PRIVILEGES"
)

// Grant gives Principal a privilege on a securable. The securable is the
// catalog when only Catalog is set, the schema when Schema is also set, and
// the table when Table is set too. Privileges granted on a catalog or schema
// are inherited by everything inside it.
type Grant struct {
	Principal string `json:"principal" yaml:"principal"`
	Privilege string `json:"privilege" yaml:"privilege"`
	Catalog   string `json:"catalog" yaml:"catalog"`
	Schema    string `json:"schema,omitempty" yaml:"schema,omitempty"`
	Table     string `json:"table,omitempty" yaml:"table,omitempty"`
	Grantor   string `json:"grantor,omitempty" yaml:"grantor,omitempty"`
}

// LoadFixture reads a fixture from a .yaml, .yml or .json file and
// validates it.
func LoadFixture(path string) (Fixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Fixture{}, fmt.Errorf("read fixture: %w", err)
	}
	return ParseFixture(path, data)
}

// ParseFixture decodes and validates a fixture read from a file of the given
// name (its extension chooses JSON or YAML), as LoadFixture does.
func ParseFixture(path string, data []byte) (Fixture, error) {
	var f Fixture
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(&f)
	default:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		err = dec.Decode(&f)
	}
	if err != nil {
		return Fixture{}, fmt.Errorf("decode fixture %s: %w", filepath.Base(path), err)
	}
	if err := f.Validate(); err != nil {
		return Fixture{}, fmt.Errorf("fixture %s: %w", filepath.Base(path), err)
	}
	return f, nil
}

// Validate checks names, types, generators and grants. Names are compared
// case-insensitively, as Unity Catalog does.
func (f *Fixture) Validate() error {
	if len(f.Catalogs) == 0 {
		return fmt.Errorf("no catalogs")
	}
	seen := map[string]bool{}
	for _, c := range f.Catalogs {
		if err := checkName("catalog", c.Name); err != nil {
			return err
		}
		ln := strings.ToLower(c.Name)
		if ln == "system" || ln == "temp" || ln == internalCatalog || ln == "memory" {
			return fmt.Errorf("catalog name %q is reserved", c.Name)
		}
		if seen[ln] {
			return fmt.Errorf("duplicate catalog %q", c.Name)
		}
		seen[ln] = true
		schemas := map[string]bool{}
		for _, s := range c.Schemas {
			if err := checkName("schema", s.Name); err != nil {
				return err
			}
			if strings.EqualFold(s.Name, "information_schema") {
				return fmt.Errorf("schema name information_schema is reserved")
			}
			if schemas[strings.ToLower(s.Name)] {
				return fmt.Errorf("duplicate schema %s.%s", c.Name, s.Name)
			}
			schemas[strings.ToLower(s.Name)] = true
			tables := map[string]bool{}
			for _, t := range s.Tables {
				fqn := c.Name + "." + s.Name + "." + t.Name
				if err := checkName("table", t.Name); err != nil {
					return err
				}
				if tables[strings.ToLower(t.Name)] {
					return fmt.Errorf("duplicate table %s", fqn)
				}
				tables[strings.ToLower(t.Name)] = true
				if err := t.validate(); err != nil {
					return fmt.Errorf("table %s: %w", fqn, err)
				}
			}
		}
	}
	tokens := map[string]bool{}
	for _, p := range f.Principals {
		if p.Name == "" {
			return fmt.Errorf("principal without a name")
		}
		for _, t := range p.Tokens {
			if t == "" || tokens[t] {
				return fmt.Errorf("principal %s: empty or duplicate token", p.Name)
			}
			tokens[t] = true
		}
	}
	for i, g := range f.Grants {
		if err := f.validateGrant(g); err != nil {
			return fmt.Errorf("grant %d: %w", i, err)
		}
	}
	return nil
}

func (f *Fixture) validateGrant(g Grant) error {
	switch g.Privilege {
	case PrivUseCatalog, PrivUseSchema, PrivSelect, PrivAllPrivileges:
	default:
		return fmt.Errorf("unknown privilege %q", g.Privilege)
	}
	if g.Principal == "" || g.Catalog == "" {
		return fmt.Errorf("principal and catalog are required")
	}
	if g.Table != "" && g.Schema == "" {
		return fmt.Errorf("table grant without schema")
	}
	if g.Privilege == PrivUseCatalog && g.Schema != "" {
		return fmt.Errorf("USE CATALOG can only be granted on a catalog")
	}
	if g.Privilege == PrivUseSchema && g.Table != "" {
		return fmt.Errorf("USE SCHEMA cannot be granted on a table")
	}
	return nil
}

func (t *Table) validate() error {
	switch strings.ToUpper(t.Type) {
	case "", TableManaged, TableView:
	default:
		return fmt.Errorf("unsupported table type %q", t.Type)
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("no columns")
	}
	names := map[string]bool{}
	for _, c := range t.Columns {
		if err := checkName("column", c.Name); err != nil {
			return err
		}
		if names[strings.ToLower(c.Name)] {
			return fmt.Errorf("duplicate column %q", c.Name)
		}
		names[strings.ToLower(c.Name)] = true
		if _, err := ParseType(c.Type); err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		if t.Generate != nil && t.Generate.Rows > 0 {
			if err := c.Gen.validate(); err != nil {
				return fmt.Errorf("column %s: %w", c.Name, err)
			}
		}
	}
	for i, r := range t.Rows {
		if len(r) != len(t.Columns) {
			return fmt.Errorf("row %d has %d values, want %d", i, len(r), len(t.Columns))
		}
	}
	return nil
}

func checkName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s without a name", kind)
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%s name %q: only letters, digits and _ are supported", kind, name)
		}
	}
	return nil
}

// clone returns a deep copy of the parts of the fixture that the server
// mutates at runtime (structure and grants; row data is not copied).
func (f Fixture) clone() Fixture {
	out := f
	out.Catalogs = make([]Catalog, len(f.Catalogs))
	for i, c := range f.Catalogs {
		c.Schemas = append([]Schema(nil), c.Schemas...)
		for j, s := range c.Schemas {
			s.Tables = append([]Table(nil), s.Tables...)
			for k, t := range s.Tables {
				t.Columns = append([]Column(nil), t.Columns...)
				s.Tables[k] = t
			}
			c.Schemas[j] = s
		}
		out.Catalogs[i] = c
	}
	out.Principals = append([]Principal(nil), f.Principals...)
	out.Grants = append([]Grant(nil), f.Grants...)
	return out
}
