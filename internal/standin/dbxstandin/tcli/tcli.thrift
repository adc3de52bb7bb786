// Minimal TCLIService definition used by the warehouse stand-in.
//
// It declares only the messages, fields and enum values that the
// databricks-sql-go driver (v1.14.0) writes or reads on its normal paths.
// Field ids and types follow the wire format of a Databricks SQL warehouse;
// Thrift readers skip fields they do not know, so omitted fields are harmless.
// Databricks extensions use field ids of 1281 and above.

namespace go tcli

enum TProtocolVersion {
  HIVE_CLI_SERVICE_PROTOCOL_V10 = 9,
  SPARK_CLI_SERVICE_PROTOCOL_V1 = 42241,
  SPARK_CLI_SERVICE_PROTOCOL_V8 = 42248,
  SPARK_CLI_SERVICE_PROTOCOL_V9 = 42249
}

enum TStatusCode {
  SUCCESS_STATUS = 0,
  SUCCESS_WITH_INFO_STATUS = 1,
  STILL_EXECUTING_STATUS = 2,
  ERROR_STATUS = 3,
  INVALID_HANDLE_STATUS = 4
}

enum TOperationState {
  INITIALIZED_STATE = 0,
  RUNNING_STATE = 1,
  FINISHED_STATE = 2,
  CANCELED_STATE = 3,
  CLOSED_STATE = 4,
  ERROR_STATE = 5,
  UKNOWN_STATE = 6,
  PENDING_STATE = 7,
  TIMEDOUT_STATE = 8
}

enum TOperationType {
  EXECUTE_STATEMENT = 0,
  UNKNOWN = 8
}

enum TTypeId {
  BOOLEAN_TYPE = 0,
  TINYINT_TYPE = 1,
  SMALLINT_TYPE = 2,
  INT_TYPE = 3,
  BIGINT_TYPE = 4,
  FLOAT_TYPE = 5,
  DOUBLE_TYPE = 6,
  STRING_TYPE = 7,
  TIMESTAMP_TYPE = 8,
  BINARY_TYPE = 9,
  ARRAY_TYPE = 10,
  MAP_TYPE = 11,
  STRUCT_TYPE = 12,
  DECIMAL_TYPE = 15,
  NULL_TYPE = 16,
  DATE_TYPE = 17
}

enum TFetchOrientation {
  FETCH_NEXT = 0,
  FETCH_PRIOR = 1
}

enum TSparkRowSetType {
  ARROW_BASED_SET = 0,
  COLUMN_BASED_SET = 1,
  ROW_BASED_SET = 2,
  URL_BASED_SET = 3
}

struct TStatus {
  1: required TStatusCode statusCode,
  2: optional list<string> infoMessages,
  3: optional string sqlState,
  4: optional i32 errorCode,
  5: optional string errorMessage,
  6: optional string displayMessage
}

struct THandleIdentifier {
  1: required binary guid,
  2: required binary secret
}

struct TSessionHandle {
  1: required THandleIdentifier sessionId
}

struct TOperationHandle {
  1: required THandleIdentifier operationId,
  2: required TOperationType operationType,
  3: required bool hasResultSet,
  4: optional double modifiedRowCount
}

struct TNamespace {
  1: optional string catalogName,
  2: optional string schemaName
}

struct TTypeQualifierValue {
  1: optional i32 i32Value,
  2: optional string stringValue
}

struct TTypeQualifiers {
  1: required map<string, TTypeQualifierValue> qualifiers
}

struct TPrimitiveTypeEntry {
  1: required TTypeId type,
  2: optional TTypeQualifiers typeQualifiers
}

union TTypeEntry {
  1: TPrimitiveTypeEntry primitiveEntry
}

struct TTypeDesc {
  1: required list<TTypeEntry> types
}

struct TColumnDesc {
  1: required string columnName,
  2: required TTypeDesc typeDesc,
  3: required i32 position,
  4: optional string comment
}

struct TTableSchema {
  1: required list<TColumnDesc> columns
}

struct TBoolColumn {
  1: required list<bool> values,
  2: required binary nulls
}

struct TByteColumn {
  1: required list<i8> values,
  2: required binary nulls
}

struct TI16Column {
  1: required list<i16> values,
  2: required binary nulls
}

struct TI32Column {
  1: required list<i32> values,
  2: required binary nulls
}

struct TI64Column {
  1: required list<i64> values,
  2: required binary nulls
}

struct TDoubleColumn {
  1: required list<double> values,
  2: required binary nulls
}

struct TStringColumn {
  1: required list<string> values,
  2: required binary nulls
}

struct TBinaryColumn {
  1: required list<binary> values,
  2: required binary nulls
}

union TColumn {
  1: TBoolColumn boolVal,
  2: TByteColumn byteVal,
  3: TI16Column i16Val,
  4: TI32Column i32Val,
  5: TI64Column i64Val,
  6: TDoubleColumn doubleVal,
  7: TStringColumn stringVal,
  8: TBinaryColumn binaryVal
}

// Row-based results are never produced; the struct exists because
// TRowSet.rows is a required field and must be written as an empty list.
struct TRow {}

struct TRowSet {
  1: required i64 startRowOffset,
  2: required list<TRow> rows,
  3: optional list<TColumn> columns
}

struct TOpenSessionReq {
  1: optional i32 client_protocol,
  4: optional map<string, string> configuration,
  1282: optional i64 client_protocol_i64,
  1284: optional TNamespace initialNamespace,
  1285: optional bool canUseMultipleCatalogs
}

struct TOpenSessionResp {
  1: required TStatus status,
  2: required TProtocolVersion serverProtocolVersion,
  3: optional TSessionHandle sessionHandle,
  4: optional map<string, string> configuration,
  1284: optional TNamespace initialNamespace,
  1285: optional bool canUseMultipleCatalogs
}

struct TCloseSessionReq {
  1: required TSessionHandle sessionHandle
}

struct TCloseSessionResp {
  1: required TStatus status
}

struct TSparkGetDirectResults {
  1: required i64 maxRows,
  2: optional i64 maxBytes
}

struct TSparkParameterValue {
  1: optional string stringValue,
  2: optional double doubleValue,
  3: optional bool booleanValue
}

struct TSparkParameter {
  1: optional i32 ordinal,
  2: optional string name,
  3: optional string type,
  4: optional TSparkParameterValue value
}

struct TExecuteStatementReq {
  1: required TSessionHandle sessionHandle,
  2: required string statement,
  3: optional map<string, string> confOverlay,
  4: optional bool runAsync,
  5: optional i64 queryTimeout,
  1281: optional TSparkGetDirectResults getDirectResults,
  1282: optional bool canReadArrowResult,
  1283: optional bool canDownloadResult,
  1284: optional bool canDecompressLZ4Result,
  1287: optional i64 resultRowLimit,
  1288: optional list<TSparkParameter> parameters
}

struct TGetOperationStatusReq {
  1: required TOperationHandle operationHandle,
  2: optional bool getProgressUpdate
}

struct TGetOperationStatusResp {
  1: required TStatus status,
  2: optional TOperationState operationState,
  3: optional string sqlState,
  4: optional i32 errorCode,
  5: optional string errorMessage,
  9: optional bool hasResultSet,
  11: optional i64 numModifiedRows,
  1281: optional string displayMessage,
  1282: optional string diagnosticInfo
}

struct TGetResultSetMetadataReq {
  1: required TOperationHandle operationHandle
}

struct TGetResultSetMetadataResp {
  1: required TStatus status,
  2: optional TTableSchema schema,
  1281: optional TSparkRowSetType resultFormat,
  1282: optional bool lz4Compressed,
  1287: optional bool isStagingOperation
}

struct TFetchResultsReq {
  1: required TOperationHandle operationHandle,
  2: required TFetchOrientation orientation,
  3: required i64 maxRows,
  4: optional i16 fetchType,
  1281: optional i64 maxBytes,
  1282: optional i64 startRowOffset,
  1283: optional bool includeResultSetMetadata
}

struct TFetchResultsResp {
  1: required TStatus status,
  2: optional bool hasMoreRows,
  3: optional TRowSet results,
  1281: optional TGetResultSetMetadataResp resultSetMetadata
}

struct TCloseOperationReq {
  1: required TOperationHandle operationHandle
}

struct TCloseOperationResp {
  1: required TStatus status
}

struct TCancelOperationReq {
  1: required TOperationHandle operationHandle
}

struct TCancelOperationResp {
  1: required TStatus status
}

struct TSparkDirectResults {
  1: optional TGetOperationStatusResp operationStatus,
  2: optional TGetResultSetMetadataResp resultSetMetadata,
  3: optional TFetchResultsResp resultSet,
  4: optional TCloseOperationResp closeOperation
}

struct TExecuteStatementResp {
  1: required TStatus status,
  2: optional TOperationHandle operationHandle,
  1281: optional TSparkDirectResults directResults
}

service TCLIService {
  TOpenSessionResp OpenSession(1: TOpenSessionReq req)
  TCloseSessionResp CloseSession(1: TCloseSessionReq req)
  TExecuteStatementResp ExecuteStatement(1: TExecuteStatementReq req)
  TGetOperationStatusResp GetOperationStatus(1: TGetOperationStatusReq req)
  TCancelOperationResp CancelOperation(1: TCancelOperationReq req)
  TCloseOperationResp CloseOperation(1: TCloseOperationReq req)
  TGetResultSetMetadataResp GetResultSetMetadata(1: TGetResultSetMetadataReq req)
  TFetchResultsResp FetchResults(1: TFetchResultsReq req)
}
