// Package reconcile runs one reconcile of one source as an ordered list of
// steps:
//
//	load (spec) → check against the warehouse (validate) → observe Treasure →
//	plan → apply
//
// It declares the small interfaces it needs (Loader, Catalog, Remote) and
// knows no concrete client, no metrics and no HTTP; package daemon wires it.
//
// Outcomes are typed so that the scheduler can act on them: *Stalled means a
// human must act (an invalid repository, a repository that does not fit the
// warehouse): it is not retried until a new revision arrives. *Waiting means
// a dependency is down or throttling (the warehouse is unreachable, Treasure
// answers 429 or 5xx): retry later, after RetryAfter when known. A
// credential that Treasure or the warehouse refuses (401, 403, a rejected
// OAuth client secret) stalls too, with a *CredentialError that names where
// the credential comes from (Reconciler.Credentials) and what to do. A plan that
// cannot be applied as a whole (plan.Plan.Errored) stalls too, with its
// errors added to the diagnostics; an apply with changes that failed for
// good is an *ApplyError. Nothing is written to Treasure in a run whose
// repository failed to load, validate or plan.
//
// A Reconciler remembers, for the life of the process, the parent segments
// of earlier runs and keeps observing them after they leave the repository,
// so that the plan shows their deletion (blocked unless the prune options
// allow deleting parent segments) instead of silently forgetting them. It
// also remembers the last successful apply (time and revision) for drift
// detection.
package reconcile
