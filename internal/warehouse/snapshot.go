package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Read answers a warehouse check: the Snapshot of the request's tables
// and, when the request names customers keys, their uniqueness (CheckKeys).
func (c *Client) Read(ctx context.Context, req catalog.Request) (*catalog.Catalog, error) {
	cat, err := c.Snapshot(ctx, req.Tables)
	if err != nil {
		return nil, err
	}
	if len(req.Keys) > 0 {
		if err := c.CheckKeys(ctx, cat, req.Keys); err != nil {
			return nil, err
		}
	}
	return cat, nil
}

// Snapshot reads the metadata of tables and the principal's access to
// them. Statements issued:
//
//   - current_user(), once per Client;
//   - per catalog, one information_schema.columns query joined with tables
//     for every requested table of that catalog; when every table of the
//     catalog is cached, a cheap last_altered query on
//     information_schema.tables instead, and the columns query only if a
//     table changed, appeared or disappeared;
//   - per schema with a table that was not found, SHOW TABLES IN
//     catalog.schema, which tells a missing catalog or schema apart;
//   - the privilege check chosen by Options.Privileges, unless still fresh
//     by Options.PrivilegeTTL.
//
// Failures to reach or query the warehouse return an *Error; problems with
// the tables themselves (missing, unreadable) are reported in the Catalog.
func (c *Client) Snapshot(ctx context.Context, tables []segment.Table) (*catalog.Catalog, error) {
	principal, err := c.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	cat := &catalog.Catalog{Host: c.opts.Host, Principal: principal, Tables: map[string]*catalog.Table{}}
	byCatalog := map[string][]segment.Table{}
	var catalogs []string
	for _, t := range tables {
		k := strings.ToLower(t.Catalog)
		if _, ok := byCatalog[k]; !ok {
			catalogs = append(catalogs, k)
		}
		if cat.Tables[catalog.Key(t)] == nil {
			byCatalog[k] = append(byCatalog[k], t)
			cat.Tables[catalog.Key(t)] = &catalog.Table{Name: t}
		}
	}
	sort.Strings(catalogs)
	for _, k := range catalogs {
		err := c.refreshCatalog(ctx, byCatalog[k])
		var we *Error
		if errors.As(err, &we) && (we.Class == NotFound || we.Class == Permission) {
			// The catalog does not exist or its information_schema is
			// not readable: its tables are not found, and the privilege
			// check says why.
			c.mu.Lock()
			for _, t := range byCatalog[k] {
				delete(c.tables, catalog.Key(t))
			}
			c.mu.Unlock()
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	for k, t := range cat.Tables {
		if cached := c.tables[k]; cached != nil {
			name := t.Name
			*t = *cached
			t.Columns = append([]catalog.Column(nil), cached.Columns...)
			t.Name = name
		}
	}
	c.mu.Unlock()
	if err := c.findMissing(ctx, cat, catalogs, byCatalog); err != nil {
		return nil, err
	}
	if err := c.checkAccess(ctx, cat, catalogs, byCatalog); err != nil {
		return nil, err
	}
	return cat, nil
}

// currentUser returns the principal, asking the warehouse once.
func (c *Client) currentUser(ctx context.Context) (string, error) {
	c.mu.Lock()
	p := c.principal
	c.mu.Unlock()
	if p != "" {
		return p, nil
	}
	err := c.query(ctx, KindPrivileges, "current user", "SELECT current_user()", nil, func(r *sql.Rows) error {
		return r.Scan(&p)
	})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.principal = p
	c.mu.Unlock()
	return p, nil
}

// inList returns ":p0, :p1, ..." and the matching named arguments for the
// distinct lower-cased values.
func inList(prefix string, values []string, args *[]any) string {
	seen := map[string]bool{}
	var marks []string
	for _, v := range values {
		v = strings.ToLower(v)
		if seen[v] {
			continue
		}
		seen[v] = true
		name := fmt.Sprintf("%s%d", prefix, len(marks))
		marks = append(marks, ":"+name)
		*args = append(*args, sql.Named(name, v))
	}
	return strings.Join(marks, ", ")
}

// quote quotes an identifier with backticks.
func quote(id string) string { return "`" + strings.ReplaceAll(id, "`", "``") + "`" }

// refreshCatalog brings the column cache up to date for tables of one
// catalog.
func (c *Client) refreshCatalog(ctx context.Context, tables []segment.Table) error {
	catName := strings.ToLower(tables[0].Catalog)
	var schemas, names []string
	cachedAll := true
	c.mu.Lock()
	for _, t := range tables {
		schemas = append(schemas, t.Schema)
		names = append(names, t.Table)
		if c.tables[catalog.Key(t)] == nil {
			cachedAll = false
		}
	}
	c.mu.Unlock()
	want := map[string]bool{}
	for _, t := range tables {
		want[catalog.Key(t)] = true
	}

	if cachedAll {
		var args []any
		stmt := "SELECT table_schema, table_name, last_altered FROM " + quote(catName) + ".information_schema.tables" +
			" WHERE table_schema IN (" + inList("s", schemas, &args) + ") AND table_name IN (" + inList("t", names, &args) + ")"
		seen := map[string]time.Time{}
		err := c.query(ctx, KindFreshness, "last_altered query", stmt, args, func(r *sql.Rows) error {
			var s, n string
			var la sql.NullTime
			if err := r.Scan(&s, &n, &la); err != nil {
				return err
			}
			seen[catalog.Key(segment.Table{Catalog: catName, Schema: s, Table: n})] = la.Time
			return nil
		})
		if err != nil {
			return err
		}
		fresh := true
		c.mu.Lock()
		for k := range want {
			cached := c.tables[k]
			la, ok := seen[k]
			if ok != cached.Found || (ok && !la.Equal(cached.LastAltered)) {
				fresh = false
			}
		}
		c.mu.Unlock()
		if fresh {
			return nil
		}
	}

	var args []any
	stmt := "SELECT c.table_schema, c.table_name, t.table_type, t.last_altered, c.column_name, c.full_data_type, c.is_nullable" +
		" FROM " + quote(catName) + ".information_schema.columns c" +
		" JOIN " + quote(catName) + ".information_schema.tables t" +
		" ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name" +
		" WHERE c.table_schema IN (" + inList("s", schemas, &args) + ") AND c.table_name IN (" + inList("t", names, &args) + ")" +
		" ORDER BY c.table_schema, c.table_name, c.ordinal_position"
	found := map[string]*catalog.Table{}
	err := c.query(ctx, KindColumns, "columns query", stmt, args, func(r *sql.Rows) error {
		var s, n, typ, col, full, nullable sql.NullString
		var la sql.NullTime
		if err := r.Scan(&s, &n, &typ, &la, &col, &full, &nullable); err != nil {
			return err
		}
		name := segment.Table{Catalog: catName, Schema: s.String, Table: n.String}
		k := catalog.Key(name)
		if !want[k] {
			return nil
		}
		t := found[k]
		if t == nil {
			t = &catalog.Table{Name: name, Found: true, Type: typ.String, LastAltered: la.Time}
			found[k] = t
		}
		ion, ok := catalog.IONType(full.String)
		t.Columns = append(t.Columns, catalog.Column{Name: col.String, Type: full.String, ION: ion, Supported: ok,
			Nullable: !strings.EqualFold(nullable.String, "NO")})
		return nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range want {
		if t := found[k]; t != nil {
			c.tables[k] = t
		} else {
			c.tables[k] = &catalog.Table{Found: false}
		}
	}
	return nil
}

// findMissing asks, for each schema with a table that information_schema
// did not list, whether the schema and its catalog exist: SHOW TABLES IN
// catalog.schema answers NO_SUCH_CATALOG_EXCEPTION or SCHEMA_NOT_FOUND when
// they do not, and Table.Missing records it. One statement (KindMissing)
// per such schema; none when every table was found.
// A refused privilege says nothing here: the privilege check reports it.
func (c *Client) findMissing(ctx context.Context, cat *catalog.Catalog, catalogs []string, byCatalog map[string][]segment.Table) error {
	for _, k := range catalogs {
		noCatalog := false
		checked := map[string]bool{}
		for _, t := range byCatalog[k] {
			tt := cat.Tables[catalog.Key(t)]
			sch := strings.ToLower(t.Schema)
			if tt.Found || checked[sch] {
				continue
			}
			if noCatalog {
				tt.Missing = catalog.MissingCatalog
				continue
			}
			checked[sch] = true
			stmt := "SHOW TABLES IN " + quote(k) + "." + quote(sch)
			err := c.query(ctx, KindMissing, "show tables in "+k+"."+sch, stmt, nil, func(*sql.Rows) error { return nil })
			var we *Error
			switch {
			case err == nil:
				continue
			case errors.As(err, &we) && we.missing() != "":
			case errors.As(err, &we) && (we.Class == Permission || we.Class == NotFound || we.Class == Query):
				// Not allowed to look, or a warehouse without SHOW
				// TABLES: the table is just not found.
				continue
			default:
				return err
			}
			miss := we.missing()
			noCatalog = miss == catalog.MissingCatalog
			for _, o := range byCatalog[k] {
				ot := cat.Tables[catalog.Key(o)]
				if !ot.Found && (noCatalog || strings.EqualFold(o.Schema, sch)) {
					ot.Missing = miss
				}
			}
		}
	}
	return nil
}

// checkAccess fills Access of every table.
func (c *Client) checkAccess(ctx context.Context, cat *catalog.Catalog, catalogs []string, byCatalog map[string][]segment.Table) error {
	if c.opts.Privileges == SkipPrivileges {
		return nil
	}
	now := c.opts.Now()
	c.mu.Lock()
	pending := map[string][]segment.Table{}
	for _, k := range catalogs {
		for _, t := range byCatalog[k] {
			if tt := cat.Tables[catalog.Key(t)]; tt.Missing != "" {
				// No privilege can exist on a catalog or schema the
				// warehouse says does not exist.
				tt.Access = catalog.Access{Checked: true, NotFound: true}
				continue
			}
			if ca, ok := c.access[catalog.Key(t)]; ok && c.opts.PrivilegeTTL > 0 && now.Sub(ca.at) < c.opts.PrivilegeTTL {
				cat.Tables[catalog.Key(t)].Access = ca.access
				continue
			}
			pending[k] = append(pending[k], t)
		}
	}
	c.mu.Unlock()
	for _, k := range catalogs {
		ts := pending[k]
		if len(ts) == 0 {
			continue
		}
		var got map[string]catalog.Access
		var err error
		if c.opts.Privileges == ReadGrants {
			got, err = c.readGrants(ctx, k, cat.Principal, ts)
		} else {
			got, err = c.probe(ctx, ts)
		}
		if err != nil {
			return err
		}
		c.mu.Lock()
		for key, a := range got {
			cat.Tables[key].Access = a
			c.access[key] = cachedAccess{access: a, at: now}
		}
		c.mu.Unlock()
	}
	return nil
}

var missingPrivilege = regexp.MustCompile(`(?i)does not have (USE CATALOG|USE SCHEMA|SELECT|[A-Z ]+?) on`)

// probeParallelism bounds concurrent probes; it matches the session pool.
const probeParallelism = 4

// probe runs SELECT * FROM t LIMIT 0 for each table, a few at a time.
func (c *Client) probe(ctx context.Context, tables []segment.Table) (map[string]catalog.Access, error) {
	out := make([]catalog.Access, len(tables))
	errs := make([]error, len(tables))
	sem := make(chan struct{}, probeParallelism)
	var wg sync.WaitGroup
	for i, t := range tables {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = c.probeOne(ctx, t)
		}()
	}
	wg.Wait()
	res := map[string]catalog.Access{}
	for i, t := range tables {
		if errs[i] != nil {
			return nil, errs[i]
		}
		res[catalog.Key(t)] = out[i]
	}
	return res, nil
}

func (c *Client) probeOne(ctx context.Context, t segment.Table) (catalog.Access, error) {
	stmt := "SELECT * FROM " + quote(t.Catalog) + "." + quote(t.Schema) + "." + quote(t.Table) + " LIMIT 0"
	err := c.query(ctx, KindProbe, "probe "+t.String(), stmt, nil, func(*sql.Rows) error { return nil })
	a := catalog.Access{Checked: true}
	if err == nil {
		return a, nil
	}
	we, _ := err.(*Error)
	switch {
	case we != nil && we.Class == Permission:
		priv := catalog.Select
		if m := missingPrivilege.FindStringSubmatch(we.msg); m != nil {
			priv = strings.ToUpper(m[1])
		}
		a.Missing = []string{priv}
		a.Detail = we.msg
	case we != nil && we.Class == NotFound:
		a.NotFound = true
		a.Detail = we.msg
	default:
		return a, err
	}
	return a, nil
}

// readGrants computes access from the documented privilege relations of
// one catalog (catalog_privileges, schema_privileges, table_privileges:
// grantor, grantee, the securable's names, privilege_type, is_grantable,
// inherited_from). Only rows whose grantee is the principal count; a row
// inherited from a parent (inherited_from set) counts like a direct one.
// privilege_type is read in either spelling, USE CATALOG or USE_CATALOG.
// Grants held through a group or ownership are not rows of the principal,
// so they are reported missing: probe mode is the exact check.
func (c *Client) readGrants(ctx context.Context, catName, principal string, tables []segment.Table) (map[string]catalog.Access, error) {
	q := quote(catName) + ".information_schema."
	args := []any{sql.Named("p", principal)}
	var schemas, names []string
	for _, t := range tables {
		schemas = append(schemas, t.Schema)
		names = append(names, t.Table)
	}
	sin, tin := inList("s", schemas, &args), inList("t", names, &args)
	stmt := "SELECT 'catalog' AS level, '' AS sch, '' AS tbl, grantee, privilege_type FROM " + q + "catalog_privileges" +
		" WHERE grantee = :p" +
		" UNION ALL SELECT 'schema', schema_name, '', grantee, privilege_type FROM " + q + "schema_privileges" +
		" WHERE grantee = :p AND schema_name IN (" + sin + ")" +
		" UNION ALL SELECT 'table', table_schema, table_name, grantee, privilege_type FROM " + q + "table_privileges" +
		" WHERE grantee = :p AND table_schema IN (" + sin + ") AND table_name IN (" + tin + ")"
	type grant struct{ level, schema, table, priv string }
	var grants []grant
	err := c.query(ctx, KindPrivileges, "privileges query", stmt, args, func(r *sql.Rows) error {
		var g grant
		var s, t, grantee sql.NullString
		if err := r.Scan(&g.level, &s, &t, &grantee, &g.priv); err != nil {
			return err
		}
		if !strings.EqualFold(grantee.String, principal) {
			return nil // another grantee's row: never ours
		}
		g.schema, g.table, g.priv = strings.ToLower(s.String), strings.ToLower(t.String), privilegeName(g.priv)
		grants = append(grants, g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]catalog.Access{}
	for _, t := range tables {
		sch, tbl := strings.ToLower(t.Schema), strings.ToLower(t.Table)
		has := func(priv string) bool {
			for _, g := range grants {
				if g.priv != priv && g.priv != allPrivileges {
					continue
				}
				switch g.level {
				case "catalog":
					// A catalog grant covers the catalog and everything
					// in it.
					return true
				case "schema":
					if g.schema == sch && priv != catalog.UseCatalog {
						return true
					}
				case "table":
					if g.schema == sch && g.table == tbl && priv == catalog.Select {
						return true
					}
				}
			}
			return false
		}
		a := catalog.Access{Checked: true}
		for _, p := range []string{catalog.UseCatalog, catalog.UseSchema, catalog.Select} {
			if !has(p) {
				a.Missing = append(a.Missing, p)
			}
		}
		out[catalog.Key(t)] = a
	}
	return out, nil
}

const allPrivileges = "ALL PRIVILEGES"

// privilegeName normalises a privilege_type: upper case, words separated
// by spaces (USE_CATALOG and USE CATALOG are the same privilege).
func privilegeName(s string) string {
	return strings.Join(strings.Fields(strings.ToUpper(strings.ReplaceAll(s, "_", " "))), " ")
}

// CheckKeys runs the opt-in uniqueness check of each customers key (one
// aggregate statement per table) and records the results in cat.Keys.
func (c *Client) CheckKeys(ctx context.Context, cat *catalog.Catalog, keys []segment.KeyedTable) error {
	if cat.Keys == nil {
		cat.Keys = map[string]catalog.Uniqueness{}
	}
	for _, k := range keys {
		if t := cat.Table(k.Table); t != nil && (!t.Found || (t.Access.Checked && !t.Access.Readable())) {
			continue
		}
		col := quote(k.Key)
		stmt := "SELECT COUNT(*), COUNT(DISTINCT " + col + "), COUNT(*) - COUNT(" + col + ") FROM " +
			quote(k.Catalog) + "." + quote(k.Schema) + "." + quote(k.Table.Table)
		var u catalog.Uniqueness
		err := c.query(ctx, KindUniqueness, "uniqueness of "+k.Table.String()+"."+k.Key, stmt, nil, func(r *sql.Rows) error {
			return r.Scan(&u.Rows, &u.Distinct, &u.Nulls)
		})
		if err != nil {
			return err
		}
		cat.Keys[catalog.KeyID(k.Table, k.Key)] = u
	}
	return nil
}
