// Package webhook receives git push notifications and turns them into
// triggers of the matching sources.
//
// Handler is an http.Handler that accepts deliveries from:
//
//   - GitHub: X-GitHub-Event "push" (and "ping"), signed with
//     X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>;
//   - GitLab: X-Gitlab-Event "Push Hook", authenticated by the shared
//     X-Gitlab-Token;
//   - any other sender: X-Signature-256: sha256=<hex HMAC-SHA256 of the body>
//     with a JSON body carrying "ref" and "repository" (a URL string or an
//     object with url fields, as GitHub and GitLab send).
//
// Secrets are compared in constant time and checked before the body is
// parsed. Bodies are limited in size (1 MiB by default; 413 beyond). The
// pushed ref and repository URLs are read from the payload and matched to the
// configured sources by normalised URL (NormalizeRepoURL: https, ssh and scp
// forms, the .git suffix, ports and letter case do not matter) and branch.
// Pushes to other branches, tags or unknown repositories are acknowledged
// with 202 and ignored.
//
// A webhook only triggers: it never carries desired state, which is always
// read from git. A burst of pushes therefore needs no debouncing here: each
// delivery calls the trigger function, and the scheduler's single-flight
// coalesces triggers that arrive while a run is pending or in flight into
// one further run.
//
// Every delivery is reported to an optional observer with a bounded Result
// (accepted, ignored, unauthorized, bad_request, too_large), so the caller
// can count deliveries without this package depending on a metrics library.
package webhook
