//go:build cgo

package dbxstandin

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/tcli"
)

// defaultMaxRows is the page size when the client asks for none.
const defaultMaxRows = 100000

type handleID [16]byte

// newHandle returns a handle identifier as a Databricks warehouse makes
// them: guid and secret are each a random (version 4, RFC 9562 variant)
// UUID in its 16-byte form. Clients format or parse both as UUIDs, and
// strict parsers refuse other bytes.
func newHandle() (*tcli.THandleIdentifier, handleID) {
	id := handleID(newUUID())
	secret := newUUID()
	return &tcli.THandleIdentifier{GUID: id[:], Secret: secret[:]}, id
}

// newUUID returns a random version 4 UUID.
func newUUID() [16]byte {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return u
}

func idOf(h *tcli.THandleIdentifier) (handleID, bool) {
	var id handleID
	if h == nil || len(h.GUID) != len(id) {
		return id, false
	}
	copy(id[:], h.GUID)
	return id, true
}

func (id handleID) String() string {
	b := id[:]
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// session is one TCLIService session with its own DuckDB connection.
type session struct {
	id        handleID
	principal string
	mu        sync.Mutex // serialises statements on conn
	conn      *sql.Conn
	catalog   string
	schema    string
	conf      map[string]string
}

func (se *session) close() {
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.conn != nil {
		_ = se.conn.Close()
		se.conn = nil
	}
}

// operation is an executed statement whose result is being fetched.
type operation struct {
	id        handleID
	handle    *tcli.TOperationHandle
	sessionID handleID
	result    *resultSet
	err       *SQLError
	offset    int
	pollsLeft int
}

func success() *tcli.TStatus { return &tcli.TStatus{StatusCode: tcli.TStatusCode_SUCCESS_STATUS} }

func errorStatus(msg string) *tcli.TStatus {
	return &tcli.TStatus{StatusCode: tcli.TStatusCode_ERROR_STATUS, ErrorMessage: &msg}
}

func invalidSession(id handleID) *tcli.TStatus {
	return errorStatus(fmt.Sprintf("Invalid SessionHandle: SessionHandle [%s]", id))
}

func invalidOperation(id handleID) *tcli.TStatus {
	return errorStatus(fmt.Sprintf("Invalid OperationHandle: OperationHandle [opType=EXECUTE_STATEMENT, getHandleIdentifier()=%s]", id))
}

// service implements tcli.TCLIService on top of a Server.
type service struct {
	s *Server
}

var _ tcli.TCLIService = (*service)(nil)

func (v *service) OpenSession(ctx context.Context, req *tcli.TOpenSessionReq) (*tcli.TOpenSessionResp, error) {
	s := v.s
	ci := callFrom(ctx)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return &tcli.TOpenSessionResp{Status: errorStatus("cannot open session: " + err.Error()), ServerProtocolVersion: tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8}, nil
	}
	h, id := newHandle()
	se := &session{id: id, principal: ci.principal, conn: conn, conf: map[string]string{}}
	for k, val := range req.GetConfiguration() {
		se.conf[strings.ToLower(k)] = val
	}
	s.mu.Lock()
	se.catalog, se.schema = s.uc.DefaultCatalog, s.uc.DefaultSchema
	if se.catalog == "" {
		se.catalog = s.uc.Catalogs[0].Name
	}
	if se.schema == "" {
		if c := (catalogModel{&s.uc}).catalog(se.catalog); c != nil && len(c.Schemas) > 0 {
			se.schema = c.Schemas[0].Name
		} else {
			se.schema = "default"
		}
	}
	s.mu.Unlock()
	resp := &tcli.TOpenSessionResp{
		Status:                success(),
		ServerProtocolVersion: tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8,
		SessionHandle:         &tcli.TSessionHandle{SessionId: h},
	}
	if ns := req.GetInitialNamespace(); ns != nil {
		if ns.CatalogName != nil && *ns.CatalogName != "" {
			se.catalog = *ns.CatalogName
			if ns.SchemaName == nil || *ns.SchemaName == "" {
				se.schema = "default"
			}
		}
		if ns.SchemaName != nil && *ns.SchemaName != "" {
			se.schema = *ns.SchemaName
		}
	}
	if err := s.applyNamespace(ctx, se); err != nil {
		_ = conn.Close()
		msg := err.Error()
		resp.Status = &tcli.TStatus{StatusCode: tcli.TStatusCode_ERROR_STATUS, ErrorMessage: &msg, SqlState: &err.State}
		resp.SessionHandle = nil
		return resp, nil
	}
	cat, sch := se.catalog, se.schema
	resp.InitialNamespace = &tcli.TNamespace{CatalogName: &cat, SchemaName: &sch}
	yes := true
	resp.CanUseMultipleCatalogs = &yes
	s.mu.Lock()
	s.sessions[id] = se
	s.mu.Unlock()
	return resp, nil
}

// applyNamespace checks the session catalog and schema and points the
// DuckDB connection at them when they exist. A missing schema is accepted
// (as on Databricks, until a statement needs it).
func (s *Server) applyNamespace(ctx context.Context, se *session) *SQLError {
	s.mu.Lock()
	m := catalogModel{&s.uc}
	c, sc := m.schema(se.catalog, se.schema)
	s.mu.Unlock()
	if c == nil {
		return noSuchCatalog(se.catalog)
	}
	se.catalog = c.Name
	target := quoteIdent(strings.ToLower(c.Name))
	if sc != nil {
		se.schema = sc.Name
		target += "." + quoteIdent(strings.ToLower(sc.Name))
	}
	if _, err := se.conn.ExecContext(ctx, "USE "+target); err != nil {
		return translateDuckError(err)
	}
	return nil
}

func (v *service) CloseSession(ctx context.Context, req *tcli.TCloseSessionReq) (*tcli.TCloseSessionResp, error) {
	s := v.s
	id, _ := idOf(req.GetSessionHandle().GetSessionId())
	s.mu.Lock()
	se, ok := s.sessions[id]
	delete(s.sessions, id)
	for oid, op := range s.ops {
		if op.sessionID == id {
			delete(s.ops, oid)
		}
	}
	s.mu.Unlock()
	if !ok {
		return &tcli.TCloseSessionResp{Status: invalidSession(id)}, nil
	}
	se.close()
	return &tcli.TCloseSessionResp{Status: success()}, nil
}

func (v *service) ExecuteStatement(ctx context.Context, req *tcli.TExecuteStatementReq) (*tcli.TExecuteStatementResp, error) {
	s := v.s
	ci := callFrom(ctx)
	params := make([]Param, 0, len(req.GetParameters()))
	for _, p := range req.GetParameters() {
		pp := Param{Name: p.GetName(), Type: p.GetType()}
		if p.Value != nil && p.Value.StringValue != nil {
			val := *p.Value.StringValue
			pp.Value = &val
		}
		params = append(params, pp)
	}
	maxRows := int64(defaultMaxRows)
	if d := req.GetGetDirectResults(); d != nil && d.MaxRows > 0 {
		maxRows = d.MaxRows
	}
	s.update(ci.index, func(c *Call) {
		c.Statement = req.GetStatement()
		c.Params = params
		c.MaxRows = maxRows
	})

	id, _ := idOf(req.GetSessionHandle().GetSessionId())
	s.mu.Lock()
	se, ok := s.sessions[id]
	polls := s.runningPolls
	s.mu.Unlock()
	if !ok {
		return &tcli.TExecuteStatementResp{Status: invalidSession(id)}, nil
	}

	rs, serr := s.execute(ctx, se, req.GetStatement(), params)
	if serr != nil {
		s.update(ci.index, func(c *Call) { c.SQLState = serr.State })
		s.logger.Debug("statement failed", "principal", se.principal, "error", serr.Error())
	}
	h, oid := newHandle()
	op := &operation{
		id:        oid,
		sessionID: id,
		handle:    &tcli.TOperationHandle{OperationId: h, OperationType: tcli.TOperationType_EXECUTE_STATEMENT, HasResultSet: true},
		result:    rs,
		err:       serr,
		pollsLeft: polls,
	}
	resp := &tcli.TExecuteStatementResp{Status: success(), OperationHandle: op.handle}
	if polls > 0 {
		s.mu.Lock()
		s.ops[oid] = op
		s.mu.Unlock()
		return resp, nil
	}
	direct := &tcli.TSparkDirectResults{OperationStatus: op.status()}
	if serr == nil {
		direct.ResultSetMetadata = op.metadata()
		direct.ResultSet = op.fetch(int(maxRows), false)
		if !direct.ResultSet.GetHasMoreRows() {
			direct.CloseOperation = &tcli.TCloseOperationResp{Status: success()}
			resp.DirectResults = direct
			return resp, nil
		}
	}
	resp.DirectResults = direct
	s.mu.Lock()
	s.ops[oid] = op
	s.mu.Unlock()
	return resp, nil
}

func (op *operation) status() *tcli.TGetOperationStatusResp {
	st := &tcli.TGetOperationStatusResp{Status: success()}
	yes := true
	st.HasResultSet = &yes
	state := tcli.TOperationState_FINISHED_STATE
	switch {
	case op.pollsLeft > 0:
		state = tcli.TOperationState_RUNNING_STATE
	case op.err != nil:
		state = tcli.TOperationState_ERROR_STATE
		msg := op.err.Error()
		code := int32(0)
		st.SqlState = &op.err.State
		st.ErrorMessage = &msg
		st.DisplayMessage = &msg
		st.ErrorCode = &code
	}
	st.OperationState = &state
	return st
}

func (op *operation) metadata() *tcli.TGetResultSetMetadataResp {
	f := tcli.TSparkRowSetType_COLUMN_BASED_SET
	no := false
	return &tcli.TGetResultSetMetadataResp{Status: success(), Schema: op.result.schema(), ResultFormat: &f, Lz4Compressed: &no}
}

// fetch returns the next page of at most n rows and advances the offset.
func (op *operation) fetch(n int, withMeta bool) *tcli.TFetchResultsResp {
	start := op.offset
	end := min(start+n, op.result.rows)
	op.offset = end
	more := end < op.result.rows
	resp := &tcli.TFetchResultsResp{Status: success(), HasMoreRows: &more, Results: op.result.page(start, end)}
	if withMeta {
		resp.ResultSetMetadata = op.metadata()
	}
	return resp
}

func (s *Server) op(h *tcli.TOperationHandle) (*operation, handleID, bool) {
	id, _ := idOf(h.GetOperationId())
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.ops[id]
	return op, id, ok
}

func (v *service) GetOperationStatus(ctx context.Context, req *tcli.TGetOperationStatusReq) (*tcli.TGetOperationStatusResp, error) {
	s := v.s
	op, id, ok := s.op(req.GetOperationHandle())
	if !ok {
		return &tcli.TGetOperationStatusResp{Status: invalidOperation(id)}, nil
	}
	s.mu.Lock()
	st := op.status()
	if op.pollsLeft > 0 {
		op.pollsLeft--
	}
	s.mu.Unlock()
	return st, nil
}

func (v *service) CancelOperation(ctx context.Context, req *tcli.TCancelOperationReq) (*tcli.TCancelOperationResp, error) {
	s := v.s
	_, id, ok := s.op(req.GetOperationHandle())
	if !ok {
		return &tcli.TCancelOperationResp{Status: invalidOperation(id)}, nil
	}
	s.mu.Lock()
	delete(s.ops, id)
	s.mu.Unlock()
	return &tcli.TCancelOperationResp{Status: success()}, nil
}

func (v *service) CloseOperation(ctx context.Context, req *tcli.TCloseOperationReq) (*tcli.TCloseOperationResp, error) {
	s := v.s
	_, id, ok := s.op(req.GetOperationHandle())
	if !ok {
		return &tcli.TCloseOperationResp{Status: invalidOperation(id)}, nil
	}
	s.mu.Lock()
	delete(s.ops, id)
	s.mu.Unlock()
	return &tcli.TCloseOperationResp{Status: success()}, nil
}

func (v *service) GetResultSetMetadata(ctx context.Context, req *tcli.TGetResultSetMetadataReq) (*tcli.TGetResultSetMetadataResp, error) {
	s := v.s
	op, id, ok := s.op(req.GetOperationHandle())
	if !ok {
		return &tcli.TGetResultSetMetadataResp{Status: invalidOperation(id)}, nil
	}
	if op.err != nil {
		return &tcli.TGetResultSetMetadataResp{Status: errorStatus(op.err.Error())}, nil
	}
	return op.metadata(), nil
}

func (v *service) FetchResults(ctx context.Context, req *tcli.TFetchResultsReq) (*tcli.TFetchResultsResp, error) {
	s := v.s
	ci := callFrom(ctx)
	op, id, ok := s.op(req.GetOperationHandle())
	if !ok {
		return &tcli.TFetchResultsResp{Status: invalidOperation(id)}, nil
	}
	if op.err != nil {
		return &tcli.TFetchResultsResp{Status: errorStatus(op.err.Error())}, nil
	}
	if req.GetOrientation() != tcli.TFetchOrientation_FETCH_NEXT {
		return &tcli.TFetchResultsResp{Status: errorStatus("only FETCH_NEXT is supported")}, nil
	}
	n := int(req.GetMaxRows())
	if n <= 0 {
		n = defaultMaxRows
	}
	s.mu.Lock()
	resp := op.fetch(n, req.GetIncludeResultSetMetadata())
	s.mu.Unlock()
	s.update(ci.index, func(c *Call) {
		c.MaxRows = int64(n)
		c.StartRowOffset = resp.Results.StartRowOffset
	})
	return resp, nil
}

// execute runs one statement for a session and materialises its result.
func (s *Server) execute(ctx context.Context, se *session, stmt string, params []Param) (*resultSet, *SQLError) {
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.conn == nil {
		return nil, &SQLError{Class: "INTERNAL_ERROR", State: StateInternal, Message: "session is closed"}
	}
	env := rewriteEnv{
		catalog:   se.catalog,
		principal: se.principal,
		relation: func(catalog, rel string) (string, error) {
			return s.ucRelation(se.principal, catalog, rel)
		},
	}
	rw, err := rewrite(stmt, env)
	if err != nil {
		return nil, asSQLError(err)
	}
	switch rw.kind {
	case kindUse:
		return s.use(ctx, se, rw.words)
	case kindSet:
		return s.set(se, rw.words)
	case kindShow:
		return s.showTables(ctx, se, rw.words)
	case kindQuery:
	default:
		return nil, &SQLError{Class: "UNSUPPORTED_FEATURE", State: StateUnsupported,
			Message: fmt.Sprintf("The statement %s is not supported by this warehouse stand-in; only queries, USE, SET and SHOW TABLES are", strings.ToUpper(rw.words[0]))}
	}

	tables, err := referencedTables(ctx, se.conn, rw.sql)
	if err != nil {
		return nil, asSQLError(err)
	}
	s.mu.Lock()
	m := catalogModel{&s.uc}
	var denied *SQLError
	for _, t := range tables {
		cat, sch, tbl := t[0], t[1], t[2]
		if strings.EqualFold(cat, internalCatalog) {
			continue
		}
		if cat == "" {
			cat = se.catalog
		}
		if sch == "" {
			sch = se.schema
		}
		if e := m.checkRead(se.principal, cat, sch, tbl); e != nil {
			if e.Class == "TABLE_OR_VIEW_NOT_FOUND" {
				// Report the name as written.
				parts := []string{}
				for _, p := range t {
					if p != "" {
						parts = append(parts, p)
					}
				}
				e = tableNotFound(backtickName(parts))
			}
			denied = e
			break
		}
	}
	s.mu.Unlock()
	if denied != nil {
		return nil, denied
	}

	args, serr := bindParams(rw, params)
	if serr != nil {
		return nil, serr
	}
	rows, err := se.conn.QueryContext(ctx, rw.sql, args...)
	if err != nil {
		return nil, translateDuckError(err)
	}
	defer rows.Close()
	rs, err := readRows(rows)
	if err != nil {
		return nil, translateDuckError(err)
	}
	return rs, nil
}

func asSQLError(err error) *SQLError {
	if se, ok := err.(*SQLError); ok {
		return se
	}
	return translateDuckError(err)
}

// bindParams converts the driver's TSparkParameters to DuckDB arguments,
// by name for :name markers and in order for ? markers.
func bindParams(rw *rewritten, params []Param) ([]any, *SQLError) {
	if len(rw.named) > 0 {
		byName := map[string]Param{}
		for _, p := range params {
			if p.Name == "" {
				return nil, &SQLError{Class: "UNBOUND_SQL_PARAMETER", State: StateInvalidParameter, Message: "Positional arguments were supplied for named parameter markers."}
			}
			byName[strings.ToLower(p.Name)] = p
		}
		var args []any
		seen := map[string]bool{}
		for _, n := range rw.named {
			ln := strings.ToLower(n)
			if seen[ln] {
				continue
			}
			seen[ln] = true
			p, ok := byName[ln]
			if !ok {
				return nil, &SQLError{Class: "UNBOUND_SQL_PARAMETER", State: StateInvalidParameter,
					Message: fmt.Sprintf("Found the unbound parameter: %s. Please, fix `args` and provide a mapping of the parameter to either a SQL literal or collection constructor functions.", n)}
			}
			v, err := paramValue(p)
			if err != nil {
				return nil, err
			}
			args = append(args, sql.Named(n, v))
		}
		return args, nil
	}
	if rw.pos != len(params) {
		return nil, &SQLError{Class: "UNBOUND_SQL_PARAMETER", State: StateInvalidParameter,
			Message: fmt.Sprintf("The statement has %d positional parameter markers but %d arguments were supplied.", rw.pos, len(params))}
	}
	args := make([]any, len(params))
	for i, p := range params {
		if p.Name != "" {
			return nil, &SQLError{Class: "UNBOUND_SQL_PARAMETER", State: StateInvalidParameter, Message: "Named arguments were supplied for positional parameter markers."}
		}
		v, err := paramValue(p)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return args, nil
}

func paramValue(p Param) (any, *SQLError) {
	t := strings.ToUpper(p.Type)
	if p.Value == nil || t == "VOID" {
		return nil, nil
	}
	v := *p.Value
	bad := func() *SQLError {
		return &SQLError{Class: "INVALID_PARAMETER_VALUE", State: StateCastInvalid, Message: fmt.Sprintf("The value '%s' cannot be converted to %s.", v, p.Type)}
	}
	switch {
	case t == "STRING" || t == "":
		return v, nil
	case t == "BIGINT" || t == "INTEGER" || t == "INT" || t == "SMALLINT" || t == "TINYINT":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, bad()
		}
		return n, nil
	case t == "DOUBLE" || t == "FLOAT":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, bad()
		}
		return f, nil
	case t == "BOOLEAN":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad()
		}
		return b, nil
	case t == "TIMESTAMP" || t == "TIMESTAMP_NTZ":
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", time.DateOnly} {
			if ts, err := time.Parse(layout, v); err == nil {
				return ts.UTC(), nil
			}
		}
		return nil, bad()
	case t == "DATE":
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return nil, bad()
		}
		return d, nil
	case strings.HasPrefix(t, "DECIMAL"):
		if _, ok := new(big.Float).SetString(v); !ok {
			return nil, bad()
		}
		return v, nil
	}
	return v, nil
}

// dottedName reads the words of a name.name... (the tokenizer gives "." a
// word of its own) into its parts; nothing is no parts. A missing part
// after a dot is a syntax error at the end of input.
func dottedName(w []string) ([]string, *SQLError) {
	var parts []string
	for i, x := range w {
		if i%2 == 1 {
			if x != "." {
				return nil, syntaxError("'%s'", x)
			}
			continue
		}
		parts = append(parts, x)
	}
	if len(w) > 0 && len(w)%2 == 0 {
		return nil, syntaxError("end of input")
	}
	return parts, nil
}

// use handles USE [CATALOG|SCHEMA|DATABASE|NAMESPACE] name[.name].
func (s *Server) use(ctx context.Context, se *session, words []string) (*resultSet, *SQLError) {
	w := words[1:]
	kind := ""
	if len(w) > 0 {
		switch strings.ToUpper(w[0]) {
		case "CATALOG", "SCHEMA", "DATABASE", "NAMESPACE":
			kind = strings.ToUpper(w[0])
			w = w[1:]
		}
	}
	parts, serr := dottedName(w)
	if serr != nil {
		return nil, serr
	}
	if len(parts) == 0 || len(parts) > 2 {
		return nil, syntaxError("end of input")
	}
	cat, sch := se.catalog, ""
	switch {
	case kind == "CATALOG" && len(parts) == 1:
		cat, sch = parts[0], "default"
	case len(parts) == 2:
		cat, sch = parts[0], parts[1]
	default:
		sch = parts[0]
	}
	s.mu.Lock()
	m := catalogModel{&s.uc}
	c, sc := m.schema(cat, sch)
	var perr *SQLError
	switch {
	case c == nil:
		perr = noSuchCatalog(cat)
	case kind != "CATALOG" && sc == nil:
		perr = schemaNotFound(c.Name, sch)
	default:
		if ok, _ := m.holds(se.principal, PrivUseCatalog, c.Name, "", ""); !ok {
			perr = insufficientPermissions(PrivUseCatalog, "Catalog", c.Name)
		}
	}
	s.mu.Unlock()
	if perr != nil {
		return nil, perr
	}
	old := [2]string{se.catalog, se.schema}
	se.catalog, se.schema = cat, sch
	if err := s.applyNamespace(ctx, se); err != nil {
		se.catalog, se.schema = old[0], old[1]
		return nil, err
	}
	return &resultSet{}, nil
}

// showTables handles SHOW TABLES [IN|FROM] [catalog.]schema: the tables of
// the schema that the principal can see, in columns database, tableName and
// isTemporary. A catalog or schema that does not exist is
// NO_SUCH_CATALOG_EXCEPTION or SCHEMA_NOT_FOUND (SQLSTATE 42704), as
// Databricks answers; without USE CATALOG or USE SCHEMA it is
// INSUFFICIENT_PERMISSIONS.
func (s *Server) showTables(ctx context.Context, se *session, words []string) (*resultSet, *SQLError) {
	w := words[1:]
	if len(w) == 0 || !strings.EqualFold(w[0], "TABLES") {
		return nil, &SQLError{Class: "UNSUPPORTED_FEATURE", State: StateUnsupported,
			Message: "Only SHOW TABLES is supported by this warehouse stand-in"}
	}
	w = w[1:]
	if len(w) > 0 && (strings.EqualFold(w[0], "IN") || strings.EqualFold(w[0], "FROM")) {
		w = w[1:]
	}
	parts, serr := dottedName(w)
	if serr != nil {
		return nil, serr
	}
	cat, sch := se.catalog, se.schema
	switch {
	case len(parts) > 2:
		return nil, syntaxError("end of input")
	case len(parts) == 2:
		cat, sch = parts[0], parts[1]
	case len(parts) == 1:
		sch = parts[0]
	}
	s.mu.Lock()
	m := catalogModel{&s.uc}
	c, sc := m.schema(cat, sch)
	var perr *SQLError
	switch {
	case c == nil:
		perr = noSuchCatalog(cat)
	case sc == nil:
		perr = schemaNotFound(c.Name, sch)
	default:
		if ok, _ := m.holds(se.principal, PrivUseCatalog, c.Name, "", ""); !ok {
			perr = insufficientPermissions(PrivUseCatalog, "Catalog", c.Name)
		} else if ok, _ := m.holds(se.principal, PrivUseSchema, c.Name, sc.Name, ""); !ok {
			perr = insufficientPermissions(PrivUseSchema, "Schema", c.Name+"."+sc.Name)
		}
	}
	s.mu.Unlock()
	if perr != nil {
		return nil, perr
	}
	rel, err := s.ucRelation(se.principal, c.Name, "tables")
	if err != nil {
		return nil, asSQLError(err)
	}
	q := `SELECT table_schema AS "database", table_name AS "tableName", false AS "isTemporary" FROM ` + rel +
		" WHERE table_schema = " + quoteString(sc.Name) + " ORDER BY table_name"
	rows, err := se.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, translateDuckError(err)
	}
	defer rows.Close()
	rs, err := readRows(rows)
	if err != nil {
		return nil, translateDuckError(err)
	}
	return rs, nil
}

// set handles SET key = value (stored per session) and SET key.
func (s *Server) set(se *session, words []string) (*resultSet, *SQLError) {
	text := strings.Join(words[1:], "")
	key, val, hasVal := strings.Cut(text, "=")
	key = strings.ToLower(strings.TrimSpace(key))
	if hasVal {
		se.conf[key] = val
	}
	rs := &resultSet{cols: []*column{
		{name: "key", typeID: tcli.TTypeId_STRING_TYPE},
		{name: "value", typeID: tcli.TTypeId_STRING_TYPE},
	}}
	if key != "" {
		_ = rs.cols[0].append(key)
		v, ok := se.conf[key]
		if ok {
			_ = rs.cols[1].append(v)
		} else {
			_ = rs.cols[1].append("<undefined>")
		}
		rs.rows = 1
	}
	return rs, nil
}
