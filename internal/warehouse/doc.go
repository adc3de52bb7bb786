// Package warehouse reads Unity Catalog metadata from a Databricks SQL
// warehouse: the columns and types of the tables a repository references,
// the connecting principal's access to them, and (on request) whether a
// customers key is unique. It talks to the warehouse only, through
// databricks-sql-go and database/sql.
//
// # Connection
//
// Open takes the host, port, HTTP path and either a personal access token
// or a service principal's OAuth client id and secret. The secret is
// exchanged for an access token with the client credentials grant at a
// configurable token URL (default https://<host>/oidc/v1/token) and cached
// until 30 seconds before it expires. The exchange happens before each
// statement reaches the driver, so a refused secret fails at once (class
// auth refused) instead of going through the driver's retries. The driver
// retries HTTP 429 and 503 itself (Options.Retries, honouring Retry-After).
// Driver telemetry is off:
// the driver's feature-flag lookup is answered locally with "disabled" and
// telemetry uploads never leave the process. Insecure selects plain HTTP
// for a loopback stand-in. The driver's own log records, which it would
// write to standard error, go to Options.Logger at debug level.
//
// Every failure is an *Error naming the host and a Class (unreachable, auth
// refused, permission, not found, timeout, query); tokens and secrets are
// removed from its text.
//
// # Snapshot
//
// Snapshot(ctx, tables) issues, per catalog, one query on
// <catalog>.information_schema.columns joined with tables for every
// requested table of that catalog, with bound parameters. Its result is
// cached per table together with tables.last_altered. When every requested
// table of a catalog is cached, Snapshot first runs one cheap query on
// information_schema.tables (schema, name, last_altered only, kind
// "freshness") and repeats the columns query only if a table's last_altered
// changed or a table appeared or disappeared. An unchanged catalog thus
// costs one small query and no columns query.
//
// The principal's access is checked in one of two ways (Options.Privileges):
//
//   - ProbeTables (default): `SELECT * FROM c.s.t LIMIT 0` per table. Exact:
//     the warehouse itself applies inheritance, groups and ownership, and
//     it tells a missing table (42P01) from a missing privilege (42501,
//     naming the first privilege lacking). Costs one statement per table.
//   - ReadGrants: one UNION query per catalog over catalog_privileges,
//     schema_privileges and table_privileges, evaluated with inheritance
//     from catalog to schema to table. Only rows whose grantee is the
//     principal count (the relations list other grantees' rows too);
//     inherited rows count, and privilege_type is read as USE CATALOG or
//     USE_CATALOG alike. Cheaper for many tables, but a grant held through
//     a group or by ownership is not a row of the principal, so it is
//     reported missing, and a missing table cannot be told from an
//     invisible one.
//
// ProbeTables is the default because correctness of a permission finding
// matters more than a few statements per reconcile: a false "missing
// SELECT" would block every reconcile of a correctly configured workspace.
// Results are cached for Options.PrivilegeTTL (zero: checked every time).
// See the measurements below.
//
// # Measurements
//
// Against the stand-in (internal/standin/dbxstandin, loopback), 2 CPU cores; see
// BenchmarkSnapshot in this package and bench/warehouse.sh:
//
//	50 tables / 2,000 columns, one catalog    statements   time/snapshot
//	cold, ProbeTables                          52          130-220 ms
//	cold, ReadGrants                            3           28-33 ms
//	unchanged, ProbeTables every time          51          130-185 ms
//	unchanged, privileges within PrivilegeTTL   1            5-6 ms
//
// "Cold" is a new Client: current_user() once, one columns query, then the
// privilege check (50 probes, four at a time, or one grants query).
// "Unchanged" is a second Snapshot when nothing changed: one freshness
// query and no columns query. The probe's cost grows with the table count
// and per-statement latency, which is larger against a real warehouse than
// on loopback; a daemon should set PrivilegeTTL to its reconcile interval
// or a few minutes, accepting that a revoked grant is noticed that much
// later (Treasure's own reads would fail meanwhile and be reported).
//
// Queries and durations are also reported through Options.Observe
// (kind, duration, error) and Client.Queries, so that a caller can export
// them as metrics without this package depending on a metrics library.
package warehouse
