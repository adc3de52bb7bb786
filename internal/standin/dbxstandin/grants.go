package dbxstandin

import "strings"

// catalogModel answers lookups and privilege questions over a fixture. It
// has no locking of its own; the server guards it.
type catalogModel struct {
	f *Fixture
}

func (m catalogModel) catalog(name string) *Catalog {
	for i := range m.f.Catalogs {
		if strings.EqualFold(m.f.Catalogs[i].Name, name) {
			return &m.f.Catalogs[i]
		}
	}
	return nil
}

func (m catalogModel) schema(cat, name string) (*Catalog, *Schema) {
	c := m.catalog(cat)
	if c == nil {
		return nil, nil
	}
	for i := range c.Schemas {
		if strings.EqualFold(c.Schemas[i].Name, name) {
			return c, &c.Schemas[i]
		}
	}
	return c, nil
}

func (m catalogModel) table(cat, sch, name string) (*Catalog, *Schema, *Table) {
	c, s := m.schema(cat, sch)
	if s == nil {
		return c, nil, nil
	}
	for i := range s.Tables {
		if strings.EqualFold(s.Tables[i].Name, name) {
			return c, s, &s.Tables[i]
		}
	}
	return c, s, nil
}

// principalFor maps a bearer token to its principal.
func (m catalogModel) principalFor(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	for _, p := range m.f.Principals {
		for _, t := range p.Tokens {
			if t == token {
				return p.Name, true
			}
		}
	}
	return "", false
}

// Inheritance levels reported in inherited_from.
const (
	levelTable   = ""
	levelSchema  = "SCHEMA"
	levelCatalog = "CATALOG"
)

// holds reports whether principal holds priv on the securable (cat, sch,
// tbl), where sch and tbl may be empty, directly or inherited from a parent.
// It returns the level the privilege came from: "" for a direct grant,
// "SCHEMA" or "CATALOG" when inherited.
func (m catalogModel) holds(principal, priv, cat, sch, tbl string) (bool, string) {
	found, best := m.granted(principal, priv, cat, sch, tbl)
	if !found {
		// Owners hold every privilege on what they own and below.
		if c := m.catalog(cat); c != nil && c.Owner == principal && principal != "" {
			return true, levelCatalog
		}
		if _, s := m.schema(cat, sch); s != nil && s.Owner == principal && principal != "" {
			return true, levelSchema
		}
	}
	return found, best
}

// granted is holds without ownership: whether a grant to principal (on the
// securable or a parent) gives priv, and the level it came from.
func (m catalogModel) granted(principal, priv, cat, sch, tbl string) (bool, string) {
	best, found := "", false
	rank := map[string]int{levelTable: 0, levelSchema: 1, levelCatalog: 2}
	target := 0 // depth of the securable: 0 catalog, 1 schema, 2 table
	if sch != "" {
		target = 1
	}
	if tbl != "" {
		target = 2
	}
	for _, g := range m.f.Grants {
		if g.Principal != principal || !strings.EqualFold(g.Catalog, cat) {
			continue
		}
		if g.Privilege != priv && g.Privilege != PrivAllPrivileges {
			continue
		}
		depth := 0
		if g.Schema != "" {
			depth = 1
			if target < 1 || !strings.EqualFold(g.Schema, sch) {
				continue
			}
		}
		if g.Table != "" {
			depth = 2
			if target < 2 || !strings.EqualFold(g.Table, tbl) {
				continue
			}
		}
		level := levelTable
		if depth < target {
			level = levelSchema
			if depth == 0 {
				level = levelCatalog
			}
		}
		if depth == target {
			level = levelTable
		}
		if !found || rank[level] < rank[best] {
			best, found = level, true
		}
	}
	return found, best
}

// checkRead decides whether principal may read cat.sch.tbl: the table must
// exist and the principal needs USE CATALOG, USE SCHEMA and SELECT.
func (m catalogModel) checkRead(principal, cat, sch, tbl string) *SQLError {
	c, s, t := m.table(cat, sch, tbl)
	if t == nil {
		return tableNotFound(backtickName([]string{cat, sch, tbl}))
	}
	if ok, _ := m.holds(principal, PrivUseCatalog, c.Name, "", ""); !ok {
		return insufficientPermissions(PrivUseCatalog, "Catalog", c.Name)
	}
	if ok, _ := m.holds(principal, PrivUseSchema, c.Name, s.Name, ""); !ok {
		return insufficientPermissions(PrivUseSchema, "Schema", c.Name+"."+s.Name)
	}
	if ok, _ := m.holds(principal, PrivSelect, c.Name, s.Name, t.Name); !ok {
		return insufficientPermissions(PrivSelect, "Table", c.Name+"."+s.Name+"."+t.Name)
	}
	return nil
}

// canSeeTable reports whether the table shows up in the principal's
// information_schema.tables and columns: it must be readable.
func (m catalogModel) canSeeTable(principal, cat, sch, tbl string) bool {
	return m.checkRead(principal, cat, sch, tbl) == nil
}

// canSeeSchema reports whether the schema shows up in schemata: the
// principal needs USE CATALOG and some privilege on or inside the schema.
func (m catalogModel) canSeeSchema(principal string, c *Catalog, s *Schema) bool {
	if ok, _ := m.holds(principal, PrivUseCatalog, c.Name, "", ""); !ok {
		return false
	}
	for _, p := range []string{PrivUseSchema, PrivSelect} {
		if ok, _ := m.holds(principal, p, c.Name, s.Name, ""); ok {
			return true
		}
	}
	for _, t := range s.Tables {
		if ok, _ := m.holds(principal, PrivSelect, c.Name, s.Name, t.Name); ok {
			return true
		}
	}
	return false
}

// canSeeCatalog reports whether the principal holds any privilege in the
// catalog.
func (m catalogModel) canSeeCatalog(principal string, c *Catalog) bool {
	if c.Owner == principal && principal != "" {
		return true
	}
	for _, g := range m.f.Grants {
		if g.Principal == principal && strings.EqualFold(g.Catalog, c.Name) {
			return true
		}
	}
	return false
}

func (m catalogModel) grantor(g Grant) string {
	if g.Grantor != "" {
		return g.Grantor
	}
	if c := m.catalog(g.Catalog); c != nil && c.Owner != "" {
		return c.Owner
	}
	return "admins"
}

// grantees lists every principal or group that holds a grant, in order of
// first appearance.
func (m catalogModel) grantees() []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range m.f.Grants {
		if !seen[g.Principal] {
			seen[g.Principal] = true
			out = append(out, g.Principal)
		}
	}
	return out
}

// privilegeType spells a privilege as the information_schema privilege
// relations do: with underscores (USE_CATALOG, ALL_PRIVILEGES).
func privilegeType(priv string) string { return strings.ReplaceAll(priv, " ", "_") }

func (m catalogModel) principals() []string {
	out := make([]string, 0, len(m.f.Principals))
	for _, p := range m.f.Principals {
		out = append(out, p.Name)
	}
	return out
}
