// Package dbxstandin is an in-process stand-in for a Databricks SQL
// warehouse, for tests and demos. It speaks the warehouse wire protocol
// (TCLIService, Thrift binary protocol in HTTP POST bodies) well enough for
// the unmodified databricks-sql-go driver to run its normal paths, and it
// executes statements on an embedded DuckDB database that holds a fake Unity
// Catalog described by a Fixture.
//
// A test typically does:
//
//	fx, _ := dbxstandin.LoadFixture("examples/retail-warehouse.yaml")
//	srv, _ := dbxstandin.New(fx)
//	defer srv.Close()
//	ep, _ := srv.Start()
//	db, _ := sql.Open("databricks", ep.DSN("dapi-treasure-sp"))
//
// Endpoint.DSN turns telemetry and CloudFetch off (the DSN is the only way to
// stop driver v1.14.0 from calling https://<host>:443 for feature flags).
// The retail fixture in examples/retail-warehouse.yaml has principals
// treasure-sp (token dapi-treasure-sp, can read retail_prod.cdp) and intern
// (token dapi-intern, USE CATALOG only); testdata/warehouse/broken.yaml is a
// small catalog where the retail example does not fit.
//
// Tests observe and steer the server through Calls (the RPC log: method,
// HTTP status, principal, statement, parameters, page offsets, SQLSTATE),
// InjectFaults (the next N requests answer 429/503 with Retry-After),
// SetRunningPolls (answer RUNNING to status polls instead of direct
// results), ExpireSessions, and the catalog mutations AddColumn,
// DropColumn, DropTable, SetLastAltered, Grant and Revoke.
//
// # What is faithful
//
//   - RPCs: OpenSession (answers protocol SPARK_CLI_SERVICE_PROTOCOL_V8, so
//     the driver sends native parameters), ExecuteStatement with direct
//     results, FetchResults paging with correct startRowOffset,
//     GetOperationStatus polling (see SetRunningPolls),
//     GetResultSetMetadata, CancelOperation, CloseOperation, CloseSession.
//     Session and operation handles carry a guid and a secret that are each
//     a 16-byte random (version 4) UUID, as a warehouse sends them.
//     Unknown session handles answer ERROR_STATUS "Invalid SessionHandle:
//     ..." (the driver reports it as an execution error and does not
//     reconnect; see ExpireSessions); unknown operation handles answer
//     ERROR_STATUS "Invalid OperationHandle: ...".
//   - Authentication by personal access token (Authorization: Bearer);
//     a bad token gets HTTP 401 with X-Databricks-Reason-Phrase. Only the
//     warehouse HTTP path is served; any other path gets 404. Injected
//     faults are answered before authentication, like a gateway would.
//   - Failed statements report ERROR_STATE with a SQLSTATE and a message of
//     the form "[ERROR_CLASS] message SQLSTATE: XXXXX", e.g.
//     TABLE_OR_VIEW_NOT_FOUND/42P01, INSUFFICIENT_PERMISSIONS/42501,
//     PARSE_SYNTAX_ERROR/42601, UNBOUND_SQL_PARAMETER/42P02.
//   - Unity Catalog: per-catalog and system information_schema relations
//     (catalogs, schemata, tables, columns, table_privileges,
//     schema_privileges, catalog_privileges) with Databricks column names
//     and the fixture's Databricks type strings; rows limited to what the
//     caller may see. Reads need USE CATALOG, USE SCHEMA and SELECT, with
//     inheritance from schema and catalog, checked on every table a
//     statement references.
//   - Dialect: backtick identifiers, '...' strings with backslash escapes,
//     :name and ? parameter markers, :: casts, current_user(). $-parameters
//     and double-quoted literals are refused with PARSE_SYNTAX_ERROR so that
//     SQL relying on them fails here as it would against production (a real
//     warehouse reads "..." as a string, DuckDB as an identifier).
//   - Results are column-based TRowSets: typed columns for BOOLEAN, TINYINT,
//     SMALLINT, INT, BIGINT, FLOAT and DOUBLE; strings for DECIMAL, DATE,
//     TIMESTAMP (UTC) and STRING; ARRAY, MAP and STRUCT as JSON text with
//     their own type ids; NULL bitmaps.
//   - Fault injection (InjectFaults: 429/503 with Retry-After) and an RPC
//     log (Calls) for asserting on the driver's behaviour.
//
// # What is not
//
//   - No Arrow batches and no CloudFetch: the server always answers with
//     column-based results (the driver accepts them whatever it advertised),
//     so rows.GetArrowBatches does not work and the driver's Arrow path is
//     not exercised. No LZ4.
//   - SQL is executed by DuckDB after a light rewrite, so functions and
//     semantics differ from Databricks SQL in many places (e.g. AVG of a
//     DECIMAL comes back as DOUBLE where Databricks keeps DECIMAL, and many
//     DuckDB-only functions are accepted). A few Databricks functions are
//     renamed to their DuckDB equivalents (functions.go: regexp_like,
//     size, filter, startswith, endswith) and collect_set(x) [FILTER ...]
//     becomes an empty-when-no-rows list_distinct(list(x) [FILTER ...]).
//     HUGEINT results are sent as
//     BIGINT and fail if they do not fit. Only queries (SELECT, WITH, VALUES,
//     TABLE), USE, SET and SHOW TABLES IN [catalog.]schema (answering
//     NO_SUCH_CATALOG_EXCEPTION and SCHEMA_NOT_FOUND, SQLSTATE 42704, as
//     Databricks does) are accepted; DDL and DML are refused with
//     UNSUPPORTED_FEATURE, and the catalog is changed through the Go API
//     (AddColumn, DropColumn, DropTable, SetLastAltered, Grant, Revoke).
//     Table functions other than range, generate_series and unnest are
//     refused.
//   - Views are stored as tables; only their table_type says VIEW.
//   - No groups, no is_account_group_member, no row filters or column
//     masks. Privilege relations list only the caller's own grants, with
//     inherited_from NULL for direct grants and SCHEMA or CATALOG for
//     inherited ones. information_schema shows a table only to callers who
//     may read it.
//   - Statements run synchronously inside ExecuteStatement; queryTimeout and
//     cancellation of a running statement are not honoured.
//   - Authentication: personal access tokens of the fixture's principals,
//     and OAuth machine-to-machine for clients registered with
//     WithOAuthClient: POST /oidc/v1/token (client credentials grant, scope
//     all-apis, client id and secret by HTTP Basic or in the form) issues a
//     bearer token valid for an hour; a wrong secret is 401 with
//     {"error":"invalid_client",...}. No OIDC discovery document, no
//     user-to-machine flow.
//
// Files that need DuckDB carry a cgo build constraint; without cgo only the
// fixture, type and rewriter code is built.
package dbxstandin
