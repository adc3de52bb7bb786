// Package tcli holds the Go types and service glue generated from tcli.thrift,
// a minimal TCLIService definition (HiveServer2 with Databricks extensions) as
// spoken by Databricks SQL warehouses over Thrift binary protocol in HTTP POST
// bodies.
//
// Only the messages and fields the databricks-sql-go driver uses on its normal
// paths are declared; Thrift readers skip unknown fields. The package needs no
// cgo and no Thrift compiler: the generated files are committed (see gen.go).
package tcli
