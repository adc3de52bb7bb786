//go:build cgo

package dbxstandin

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// ucRelations lists the fake information_schema relations, their columns
// (name and DuckDB type) and the column naming their catalog.
var ucRelations = map[string]struct {
	catalogCol string
	cols       [][2]string
}{
	"catalogs": {"catalog_name", [][2]string{
		{"catalog_name", "VARCHAR"}, {"catalog_owner", "VARCHAR"}, {"comment", "VARCHAR"},
		{"created", "TIMESTAMPTZ"}, {"created_by", "VARCHAR"}, {"last_altered", "TIMESTAMPTZ"}, {"last_altered_by", "VARCHAR"},
	}},
	"schemata": {"catalog_name", [][2]string{
		{"catalog_name", "VARCHAR"}, {"schema_name", "VARCHAR"}, {"schema_owner", "VARCHAR"}, {"comment", "VARCHAR"},
		{"created", "TIMESTAMPTZ"}, {"created_by", "VARCHAR"}, {"last_altered", "TIMESTAMPTZ"}, {"last_altered_by", "VARCHAR"},
	}},
	"tables": {"table_catalog", [][2]string{
		{"table_catalog", "VARCHAR"}, {"table_schema", "VARCHAR"}, {"table_name", "VARCHAR"}, {"table_type", "VARCHAR"},
		{"is_insertable_into", "VARCHAR"}, {"commit_action", "VARCHAR"}, {"table_owner", "VARCHAR"}, {"comment", "VARCHAR"},
		{"created", "TIMESTAMPTZ"}, {"created_by", "VARCHAR"}, {"last_altered", "TIMESTAMPTZ"}, {"last_altered_by", "VARCHAR"},
		{"data_source_format", "VARCHAR"}, {"storage_sub_directory", "VARCHAR"},
	}},
	"columns": {"table_catalog", [][2]string{
		{"table_catalog", "VARCHAR"}, {"table_schema", "VARCHAR"}, {"table_name", "VARCHAR"}, {"column_name", "VARCHAR"},
		{"ordinal_position", "INTEGER"}, {"column_default", "VARCHAR"}, {"is_nullable", "VARCHAR"},
		{"full_data_type", "VARCHAR"}, {"data_type", "VARCHAR"},
		{"character_maximum_length", "BIGINT"}, {"character_octet_length", "BIGINT"},
		{"numeric_precision", "INTEGER"}, {"numeric_precision_radix", "INTEGER"}, {"numeric_scale", "INTEGER"},
		{"datetime_precision", "INTEGER"}, {"interval_type", "VARCHAR"}, {"interval_precision", "INTEGER"},
		{"maximum_cardinality", "BIGINT"}, {"is_identity", "VARCHAR"}, {"identity_generation", "VARCHAR"},
		{"identity_start", "VARCHAR"}, {"identity_increment", "VARCHAR"}, {"identity_maximum", "VARCHAR"},
		{"identity_minimum", "VARCHAR"}, {"identity_cycle", "VARCHAR"}, {"is_generated", "VARCHAR"},
		{"generation_expression", "VARCHAR"}, {"is_system_time_period_start", "VARCHAR"},
		{"is_system_time_period_end", "VARCHAR"}, {"system_time_period_timestamp_generation", "VARCHAR"},
		{"is_updatable", "VARCHAR"}, {"partition_ordinal_position", "INTEGER"}, {"comment", "VARCHAR"},
	}},
	"table_privileges": {"table_catalog", [][2]string{
		{"grantor", "VARCHAR"}, {"grantee", "VARCHAR"}, {"table_catalog", "VARCHAR"}, {"table_schema", "VARCHAR"},
		{"table_name", "VARCHAR"}, {"privilege_type", "VARCHAR"}, {"is_grantable", "VARCHAR"}, {"inherited_from", "VARCHAR"},
	}},
	"schema_privileges": {"catalog_name", [][2]string{
		{"grantor", "VARCHAR"}, {"grantee", "VARCHAR"}, {"catalog_name", "VARCHAR"}, {"schema_name", "VARCHAR"},
		{"privilege_type", "VARCHAR"}, {"is_grantable", "VARCHAR"}, {"inherited_from", "VARCHAR"},
	}},
	"catalog_privileges": {"catalog_name", [][2]string{
		{"grantor", "VARCHAR"}, {"grantee", "VARCHAR"}, {"catalog_name", "VARCHAR"},
		{"privilege_type", "VARCHAR"}, {"is_grantable", "VARCHAR"}, {"inherited_from", "VARCHAR"},
	}},
}

// openEngine creates the in-memory DuckDB database, attaches one database
// per fixture catalog, creates and fills the tables and the fake
// information_schema relations.
func (s *Server) openEngine(ctx context.Context) error {
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		return fmt.Errorf("open duckdb: %w", err)
	}
	s.connector = conn
	s.db = sql.OpenDB(conn)
	admin, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open duckdb connection: %w", err)
	}
	s.admin = admin
	stmts := []string{"ATTACH ':memory:' AS " + internalCatalog}
	for name, rel := range ucRelations {
		cols := []string{`"__principal" VARCHAR`}
		for _, c := range rel.cols {
			cols = append(cols, quoteIdent(c[0])+" "+c[1])
		}
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE %s.main.%s (%s)", internalCatalog, name, strings.Join(cols, ", ")))
	}
	for _, q := range stmts {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("prepare duckdb: %w", err)
		}
	}
	for _, c := range s.uc.Catalogs {
		if _, err := admin.ExecContext(ctx, "ATTACH ':memory:' AS "+quoteIdent(strings.ToLower(c.Name))); err != nil {
			return fmt.Errorf("attach catalog %s: %w", c.Name, err)
		}
		for _, sc := range c.Schemas {
			q := fmt.Sprintf("CREATE SCHEMA %s.%s", quoteIdent(strings.ToLower(c.Name)), quoteIdent(strings.ToLower(sc.Name)))
			if _, err := admin.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("create schema %s.%s: %w", c.Name, sc.Name, err)
			}
			for _, t := range sc.Tables {
				if err := s.createTable(ctx, c.Name, sc.Name, t); err != nil {
					return fmt.Errorf("table %s.%s.%s: %w", c.Name, sc.Name, t.Name, err)
				}
			}
		}
	}
	return s.refreshUC(ctx)
}

func tableRef(cat, sch, tbl string) string {
	return quoteIdent(strings.ToLower(cat)) + "." + quoteIdent(strings.ToLower(sch)) + "." + quoteIdent(strings.ToLower(tbl))
}

// createTable creates one fixture table and loads its inline and generated
// rows through a VARCHAR staging table and typed casts.
func (s *Server) createTable(ctx context.Context, cat, sch string, t Table) error {
	types := make([]*DataType, len(t.Columns))
	defs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		dt, err := ParseType(c.Type)
		if err != nil {
			return err
		}
		types[i] = dt
		defs[i] = quoteIdent(strings.ToLower(c.Name)) + " " + dt.DuckDB()
		if c.NotNull {
			defs[i] += " NOT NULL"
		}
	}
	ref := tableRef(cat, sch, t.Name)
	if _, err := s.admin.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", ref, strings.Join(defs, ", "))); err != nil {
		return err
	}
	gen := 0
	if t.Generate != nil {
		gen = t.Generate.Rows
	}
	if len(t.Rows) == 0 && gen == 0 {
		return nil
	}
	// Column-major text values.
	values := make([][]*string, len(t.Columns))
	for ci := range t.Columns {
		values[ci] = make([]*string, 0, len(t.Rows)+gen)
		for ri, r := range t.Rows {
			v, err := literalText(r[ci], types[ci])
			if err != nil {
				return fmt.Errorf("row %d: %w", ri, err)
			}
			values[ci] = append(values[ci], v)
		}
		if gen > 0 {
			values[ci] = append(values[ci], columnValues(t.Generate.Seed, t.Columns[ci], types[ci], gen)...)
		}
	}
	stage := "__stage"
	stageCols := make([]string, len(t.Columns))
	casts := make([]string, len(t.Columns))
	for i, dt := range types {
		stageCols[i] = fmt.Sprintf("c%d VARCHAR", i)
		switch dt.Name {
		case "ARRAY", "MAP", "STRUCT":
			casts[i] = fmt.Sprintf("CAST(CAST(c%d AS JSON) AS %s)", i, dt.DuckDB())
		case "BIGINT", "INT", "SMALLINT", "TINYINT":
			casts[i] = fmt.Sprintf("CAST(CAST(c%d AS DOUBLE) AS %s)", i, dt.DuckDB())
		default:
			casts[i] = fmt.Sprintf("CAST(c%d AS %s)", i, dt.DuckDB())
		}
	}
	if _, err := s.admin.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s (%s)", stage, strings.Join(stageCols, ", "))); err != nil {
		return err
	}
	err := s.admin.Raw(func(dc any) error {
		app, err := duckdb.NewAppender(dc.(driver.Conn), "temp", "main", stage)
		if err != nil {
			return err
		}
		row := make([]driver.Value, len(t.Columns))
		n := len(values[0])
		for ri := range n {
			for ci := range t.Columns {
				if v := values[ci][ri]; v != nil {
					row[ci] = *v
				} else {
					row[ci] = nil
				}
			}
			if err := app.AppendRow(row...); err != nil {
				_ = app.Close()
				return err
			}
		}
		return app.Close()
	})
	if err != nil {
		return fmt.Errorf("stage rows: %w", err)
	}
	if _, err := s.admin.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s SELECT %s FROM temp.main.%s", ref, strings.Join(casts, ", "), stage)); err != nil {
		return fmt.Errorf("load rows: %w", err)
	}
	_, err = s.admin.ExecContext(ctx, "DROP TABLE temp.main."+stage)
	return err
}

// refreshUC rebuilds the fake information_schema relations from the
// current fixture, one copy of every visible row per principal. Callers
// hold s.mu or run before the server is shared.
func (s *Server) refreshUC(ctx context.Context) error {
	m := catalogModel{&s.uc}
	rows := map[string][][]any{}
	add := func(rel string, vals ...any) { rows[rel] = append(rows[rel], vals) }
	epoch := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range m.principals() {
		for ci := range s.uc.Catalogs {
			c := &s.uc.Catalogs[ci]
			if m.canSeeCatalog(p, c) {
				add("catalogs", p, c.Name, nullable(c.Owner), nullable(c.Comment), epoch, nullable(c.Owner), epoch, nullable(c.Owner))
			}
			// The privilege relations list the grants of every grantee
			// (users, service principals, groups) on what the viewer can
			// see, direct and inherited from a parent (inherited_from),
			// never ownership.
			seeCatalog := m.canSeeCatalog(p, c)
			for _, priv := range []string{PrivUseCatalog, PrivUseSchema, PrivSelect, PrivAllPrivileges} {
				for _, g := range s.uc.Grants {
					if seeCatalog && g.Privilege == priv && strings.EqualFold(g.Catalog, c.Name) && g.Schema == "" {
						add("catalog_privileges", p, m.grantor(g), g.Principal, c.Name, privilegeType(priv), "NO", nil)
					}
				}
			}
			for si := range c.Schemas {
				sc := &c.Schemas[si]
				if m.canSeeSchema(p, c, sc) {
					add("schemata", p, c.Name, sc.Name, nullable(firstNonEmpty(sc.Owner, c.Owner)), nullable(sc.Comment), epoch, nil, epoch, nil)
				}
				seeSchema := m.canSeeSchema(p, c, sc)
				for _, q := range m.grantees() {
					if !seeSchema {
						break
					}
					for _, priv := range []string{PrivUseSchema, PrivSelect, PrivAllPrivileges} {
						if ok, lvl := m.byPrivilege(priv).granted(q, priv, c.Name, sc.Name, ""); ok {
							add("schema_privileges", p, m.grantorFor(q, priv, c.Name, sc.Name, ""), q, c.Name, sc.Name, privilegeType(priv), "NO", nullable(lvl))
						}
					}
				}
				for ti := range sc.Tables {
					t := &sc.Tables[ti]
					for _, q := range m.grantees() {
						if !seeSchema {
							break
						}
						for _, priv := range []string{PrivSelect, PrivAllPrivileges} {
							if ok, lvl := m.byPrivilege(priv).granted(q, priv, c.Name, sc.Name, t.Name); ok {
								add("table_privileges", p, m.grantorFor(q, priv, c.Name, sc.Name, t.Name), q, c.Name, sc.Name, t.Name, privilegeType(priv), "NO", nullable(lvl))
							}
						}
					}
					if !m.canSeeTable(p, c.Name, sc.Name, t.Name) {
						continue
					}
					typ := TableManaged
					if strings.EqualFold(t.Type, TableView) {
						typ = TableView
					}
					created := t.Created
					if created.IsZero() {
						created = epoch
					}
					altered := t.LastAltered
					if altered.IsZero() {
						altered = created
					}
					owner := firstNonEmpty(t.Owner, sc.Owner, c.Owner)
					format := "DELTA"
					if typ == TableView {
						format = ""
					}
					add("tables", p, c.Name, sc.Name, t.Name, typ, yesNo(typ != TableView), "PRESERVE", nullable(owner), nullable(t.Comment),
						created, nullable(owner), altered, nullable(owner), nullable(format), nil)
					for i, col := range t.Columns {
						dt, _ := ParseType(col.Type)
						prec, radix, scale := dt.numericPrecision()
						var dtp any
						if dt.Name == "TIMESTAMP" || dt.Name == "TIMESTAMP_NTZ" {
							dtp = int32(6)
						} else if dt.Name == "DATE" {
							dtp = int32(0)
						}
						add("columns", p, c.Name, sc.Name, t.Name, col.Name, int32(i+1), nil, yesNo(!col.NotNull),
							dt.FullDataType(), dt.Name, nil, nil, i32(prec), i32(radix), i32(scale), dtp, nil, nil, nil,
							"NO", nil, nil, nil, nil, nil, nil, "NO", nil, "NO", "NO", nil, yesNo(typ != TableView), nil, nullable(col.Comment))
					}
				}
			}
		}
	}
	for rel := range ucRelations {
		if _, err := s.admin.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s.main.%s", internalCatalog, rel)); err != nil {
			return fmt.Errorf("refresh %s: %w", rel, err)
		}
		if len(rows[rel]) == 0 {
			continue
		}
		err := s.admin.Raw(func(dc any) error {
			app, err := duckdb.NewAppender(dc.(driver.Conn), internalCatalog, "main", rel)
			if err != nil {
				return err
			}
			for _, r := range rows[rel] {
				vals := make([]driver.Value, len(r))
				for i, v := range r {
					vals[i] = v
				}
				if err := app.AppendRow(vals...); err != nil {
					_ = app.Close()
					return err
				}
			}
			return app.Close()
		})
		if err != nil {
			return fmt.Errorf("refresh %s: %w", rel, err)
		}
	}
	return nil
}

// byPrivilege returns a model holding only the grants of priv (ALL
// PRIVILEGES) or only the others (any other value), so that a privilege
// relation lists an ALL PRIVILEGES grant once, as ALL_PRIVILEGES.
func (m catalogModel) byPrivilege(priv string) catalogModel {
	f := &Fixture{}
	for _, g := range m.f.Grants {
		if (g.Privilege == PrivAllPrivileges) == (priv == PrivAllPrivileges) {
			f.Grants = append(f.Grants, g)
		}
	}
	return catalogModel{f}
}

func (m catalogModel) grantorFor(principal, priv, cat, sch, tbl string) string {
	for _, g := range m.f.Grants {
		if g.Principal == principal && (g.Privilege == priv || g.Privilege == PrivAllPrivileges) && strings.EqualFold(g.Catalog, cat) {
			return m.grantor(g)
		}
	}
	return m.grantor(Grant{Catalog: cat})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func i32(v any) any {
	if n, ok := v.(int); ok {
		return int32(n)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// ucRelation returns the subquery standing in for
// <catalog>.information_schema.<rel> as seen by principal; catalog "" means
// system.information_schema.
func (s *Server) ucRelation(principal, catalog, rel string) (string, error) {
	r, ok := ucRelations[rel]
	display := backtickName([]string{firstNonEmpty(catalog, "system"), "information_schema", rel})
	if !ok {
		return "", tableNotFound(display)
	}
	cols := make([]string, len(r.cols))
	for i, c := range r.cols {
		cols[i] = quoteIdent(c[0])
	}
	where := "__principal = " + quoteString(principal)
	if catalog != "" {
		s.mu.Lock()
		c := catalogModel{&s.uc}.catalog(catalog)
		s.mu.Unlock()
		if c == nil {
			return "", tableNotFound(display)
		}
		where += " AND " + quoteIdent(r.catalogCol) + " = " + quoteString(c.Name)
	}
	return fmt.Sprintf("(SELECT %s FROM %s.main.%s WHERE %s)", strings.Join(cols, ", "), internalCatalog, rel, where), nil
}

// referencedTables lists the base tables a DuckDB query reads, using
// DuckDB's own parser (json_serialize_sql). CTE names are excluded.
func referencedTables(ctx context.Context, conn *sql.Conn, query string) ([][3]string, error) {
	var js string
	if err := conn.QueryRowContext(ctx, "SELECT json_serialize_sql("+quoteString(query)+")::VARCHAR").Scan(&js); err != nil {
		return nil, translateDuckError(err)
	}
	var doc any
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		return nil, fmt.Errorf("parse statement tree: %w", err)
	}
	if m, ok := doc.(map[string]any); ok && m["error"] == true {
		msg, _ := m["error_message"].(string)
		typ, _ := m["error_type"].(string)
		if typ == "parser" {
			return nil, &SQLError{Class: "PARSE_SYNTAX_ERROR", State: StateSyntax, Message: "Syntax error: " + cleanDuckMessage(msg) + "."}
		}
		return nil, &SQLError{Class: "UNSUPPORTED_FEATURE", State: StateUnsupported, Message: cleanDuckMessage(msg)}
	}
	ctes := map[string]bool{}
	var tables [][3]string
	var funcErr error
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if cm, ok := x["cte_map"].(map[string]any); ok {
				if entries, ok := cm["map"].([]any); ok {
					for _, e := range entries {
						if em, ok := e.(map[string]any); ok {
							if k, ok := em["key"].(string); ok {
								ctes[strings.ToLower(k)] = true
							}
						}
					}
				}
			}
			switch x["type"] {
			case "BASE_TABLE":
				c, _ := x["catalog_name"].(string)
				sc, _ := x["schema_name"].(string)
				t, _ := x["table_name"].(string)
				tables = append(tables, [3]string{c, sc, t})
			case "TABLE_FUNCTION":
				if fn, ok := x["function"].(map[string]any); ok {
					name, _ := fn["function_name"].(string)
					switch strings.ToLower(name) {
					case "range", "generate_series", "unnest":
					default:
						funcErr = &SQLError{Class: "UNRESOLVED_ROUTINE", State: StateRoutineNotFound,
							Message: fmt.Sprintf("Cannot resolve routine `%s` on search path [`system`.`builtin`, `system`.`session`].", name)}
					}
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if funcErr != nil {
		return nil, funcErr
	}
	out := tables[:0]
	for _, t := range tables {
		if t[0] == "" && t[1] == "" && ctes[strings.ToLower(t[2])] {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// translateDuckError maps a DuckDB error to a Databricks-style SQLError.
func translateDuckError(err error) *SQLError {
	var se *SQLError
	if errors.As(err, &se) {
		return se
	}
	msg := err.Error()
	var de *duckdb.Error
	typ := duckdb.ErrorTypeInvalid
	if errors.As(err, &de) {
		typ = de.Type
		msg = de.Msg
	}
	clean := cleanDuckMessage(msg)
	switch {
	case typ == duckdb.ErrorTypeParser || typ == duckdb.ErrorTypeSyntax:
		return &SQLError{Class: "PARSE_SYNTAX_ERROR", State: StateSyntax, Message: "Syntax error: " + clean + "."}
	case typ == duckdb.ErrorTypeBinder && strings.Contains(msg, "Referenced column"):
		return &SQLError{Class: "UNRESOLVED_COLUMN.WITH_SUGGESTION", State: StateColumnNotFound,
			Message: "A column, variable, or function parameter cannot be resolved: " + clean + "."}
	case typ == duckdb.ErrorTypeBinder && strings.Contains(msg, "Ambiguous"):
		return &SQLError{Class: "AMBIGUOUS_REFERENCE", State: StateAmbiguousRef, Message: clean}
	case strings.Contains(msg, "Function") && strings.Contains(msg, "does not exist") || strings.Contains(msg, "No function matches"):
		return &SQLError{Class: "UNRESOLVED_ROUTINE", State: StateRoutineNotFound, Message: clean}
	case typ == duckdb.ErrorTypeCatalog && strings.Contains(msg, "does not exist"):
		return &SQLError{Class: "TABLE_OR_VIEW_NOT_FOUND", State: StateTableNotFound, Message: clean}
	case typ == duckdb.ErrorTypeConversion:
		return &SQLError{Class: "CAST_INVALID_INPUT", State: StateCastInvalid, Message: clean}
	case typ == duckdb.ErrorTypeDivideByZero:
		return &SQLError{Class: "DIVIDE_BY_ZERO", State: StateDivideByZero, Message: "Division by zero."}
	case typ == duckdb.ErrorTypeOutOfRange:
		return &SQLError{Class: "ARITHMETIC_OVERFLOW", State: StateNumericOutOfRange, Message: clean}
	case typ == duckdb.ErrorTypeBinder:
		return &SQLError{Class: "DATATYPE_MISMATCH", State: StateDatatypeMismatch, Message: clean}
	}
	return &SQLError{Class: "INTERNAL_ERROR", State: StateInternal, Message: clean}
}

// cleanDuckMessage strips DuckDB's "X Error: " prefix and internal names.
func cleanDuckMessage(msg string) string {
	if i := strings.Index(msg, " Error: "); i >= 0 && i < 30 {
		msg = msg[i+len(" Error: "):]
	}
	msg = strings.ReplaceAll(msg, internalCatalog+".main.", "")
	if i := strings.Index(msg, "\n"); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSuffix(strings.TrimSpace(msg), ".")
}
