//go:build cgo

package dbxstandin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned by the catalog mutation methods when the named
// catalog, schema, table, column or grant does not exist.
var ErrNotFound = errors.New("not found")

// AddColumn appends a nullable column (NULL in existing rows) to a table
// and sets its last_altered to the server clock.
func (s *Server) AddColumn(catalog, schema, table string, col Column) error {
	dt, err := ParseType(col.Type)
	if err != nil {
		return err
	}
	if err := checkName("column", col.Name); err != nil {
		return err
	}
	return s.alterTable(catalog, schema, table, func(t *Table) (string, error) {
		for _, c := range t.Columns {
			if strings.EqualFold(c.Name, col.Name) {
				return "", fmt.Errorf("column %s already exists", col.Name)
			}
		}
		col.NotNull = false
		col.Gen = nil
		t.Columns = append(t.Columns, col)
		return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", tableRef(catalog, schema, table), quoteIdent(strings.ToLower(col.Name)), dt.DuckDB()), nil
	})
}

// DropColumn removes a column from a table and sets its last_altered to
// the server clock.
func (s *Server) DropColumn(catalog, schema, table, column string) error {
	return s.alterTable(catalog, schema, table, func(t *Table) (string, error) {
		for i, c := range t.Columns {
			if strings.EqualFold(c.Name, column) {
				if len(t.Columns) == 1 {
					return "", fmt.Errorf("cannot drop the only column of %s", table)
				}
				t.Columns = append(t.Columns[:i:i], t.Columns[i+1:]...)
				return fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", tableRef(catalog, schema, table), quoteIdent(strings.ToLower(c.Name))), nil
			}
		}
		return "", fmt.Errorf("column %s.%s.%s.%s: %w", catalog, schema, table, column, ErrNotFound)
	})
}

// SetLastAltered sets a table's last_altered timestamp without changing
// its columns.
func (s *Server) SetLastAltered(catalog, schema, table string, at time.Time) error {
	return s.alterTable(catalog, schema, table, func(t *Table) (string, error) { return "", nil }, at)
}

// DropTable removes a table from the catalog and the database.
func (s *Server) DropTable(catalog, schema, table string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, sc, t := catalogModel{&s.uc}.table(catalog, schema, table)
	if t == nil {
		return fmt.Errorf("table %s.%s.%s: %w", catalog, schema, table, ErrNotFound)
	}
	ctx := context.Background()
	if _, err := s.admin.ExecContext(ctx, "DROP TABLE "+tableRef(catalog, schema, table)); err != nil {
		return fmt.Errorf("drop table: %w", err)
	}
	for i := range sc.Tables {
		if &sc.Tables[i] == t {
			sc.Tables = append(sc.Tables[:i:i], sc.Tables[i+1:]...)
			break
		}
	}
	return s.refreshUC(ctx)
}

// alterTable applies change to the fixture table, runs the DDL it returns
// and refreshes information_schema. last_altered becomes at[0] when given,
// the server clock otherwise.
func (s *Server) alterTable(catalog, schema, table string, change func(*Table) (string, error), at ...time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _, t := catalogModel{&s.uc}.table(catalog, schema, table)
	if t == nil {
		return fmt.Errorf("table %s.%s.%s: %w", catalog, schema, table, ErrNotFound)
	}
	before := append([]Column(nil), t.Columns...)
	ddl, err := change(t)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if ddl != "" {
		if _, err := s.admin.ExecContext(ctx, ddl); err != nil {
			t.Columns = before
			return fmt.Errorf("alter table: %w", err)
		}
	}
	if len(at) > 0 {
		t.LastAltered = at[0].UTC()
	} else {
		t.LastAltered = s.clock().UTC()
	}
	return s.refreshUC(ctx)
}

// Grant adds a grant at runtime.
func (s *Server) Grant(g Grant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.uc.validateGrant(g); err != nil {
		return err
	}
	s.uc.Grants = append(s.uc.Grants, g)
	return s.refreshUC(context.Background())
}

// Revoke removes every grant matching g's principal, privilege and
// securable (the grantor is ignored). It returns ErrNotFound when none
// matched.
func (s *Server) Revoke(g Grant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.uc.Grants[:0:0]
	removed := 0
	for _, x := range s.uc.Grants {
		if x.Principal == g.Principal && strings.EqualFold(x.Privilege, g.Privilege) && strings.EqualFold(x.Catalog, g.Catalog) &&
			strings.EqualFold(x.Schema, g.Schema) && strings.EqualFold(x.Table, g.Table) {
			removed++
			continue
		}
		kept = append(kept, x)
	}
	if removed == 0 {
		return fmt.Errorf("grant %s on %s to %s: %w", g.Privilege, strings.Trim(g.Catalog+"."+g.Schema+"."+g.Table, "."), g.Principal, ErrNotFound)
	}
	s.uc.Grants = kept
	return s.refreshUC(context.Background())
}

// ExpireSessions forgets every open session, as a warehouse restart does.
// The next call on such a session gets an ERROR_STATUS "Invalid
// SessionHandle: ..." as from a real warehouse; databricks-sql-go v1.14.0
// reports it as an execution error and keeps the connection in its pool.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	sessions := s.sessions
	s.sessions = map[handleID]*session{}
	s.ops = map[handleID]*operation{}
	s.mu.Unlock()
	for _, se := range sessions {
		se.close()
	}
}
