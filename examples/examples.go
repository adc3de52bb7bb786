// Package examples embeds the example segment repository and the warehouse
// it is written for, so that the demo runs from an installed binary.
package examples

import "embed"

// Retail holds the retail example repository under the directory "retail".
//
//go:embed all:retail
var Retail embed.FS

// RetailWarehouse is the warehouse fixture (Unity Catalog retail_prod.cdp
// with generated rows and a service principal) that the retail example is
// written for, in the Databricks stand-in's fixture format.
//
//go:embed retail-warehouse.yaml
var RetailWarehouse []byte
