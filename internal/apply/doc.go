// Package apply executes a plan through a small Target interface (satisfied
// by the Treasure Data client) and reports what really happened.
//
// Changes run in plan order, level by level; changes of one level are
// independent and run with bounded concurrency. Names are resolved to ids as
// apply goes: the Databricks connection name, folder paths (including
// folders created earlier in the same run) and the segments a rule
// references. After a failure, apply goes on with independent changes, skips
// every change that depends on a failed or skipped one, and skips all
// deletes. When the context is canceled, the change in flight finishes and
// the rest is reported skipped.
//
// Apply keeps no state of its own: killed at any point, the next run
// recomputes the plan from what Treasure holds and converges; creates are
// idempotent by name in the client, so no duplicate appears.
package apply
