// Package treasure is the Treasure Data adapter: a client for the parts of
// the CDP API that manage composable (CAS) parent segments on Databricks,
// their segment folders and their segments.
//
// Client.Observe reads everything under a list of parent segments and
// returns it in the vocabulary of package segment. The write methods
// (CreateParent, UpdateSegment, DeleteFolder, ...) are what package apply
// drives. Every object the client writes carries an ownership marker, a
// last line of its description such as
//
//	[managed-by: cas-reconciler source=retail]
//
// which Observe strips again and reports as Meta.Owned and
// Meta.OwnerSource; no state is kept outside Treasure Data.
//
// Endpoints (base URLs per region, each overridable in Options):
//
//   - composable parent segments: created by the CAS configuration upload
//     (POST <CAS base>/composable_audiences, configurable), read with
//     GET /audiences and GET /audiences/{id} (flat ComposableAudience
//     shape), replaced with PUT /audiences/{id} including "master" (a full
//     replacement: attribute and behavior ids change, so they are matched by
//     name), deleted with DELETE /audiences/{id};
//   - connections: GET <classic base>/v3/connections/lookup?name=;
//   - folders: POST, PATCH and DELETE /entities/folders, listed with
//     GET /entities/by-folder/{id}?depth=N&with_rule=false;
//   - segments: POST, GET, PATCH and DELETE /entities/segments in the
//     composable-segment JSON:API shape.
//
// Rules read from listings are never trusted (the API returns them empty);
// Observe fetches a segment's detail only when its updatedAt differs from
// the one the client saw last, so observing unchanged segments costs one
// listing per parent segment.
//
// Every request is rate limited (token bucket), bounded in concurrency and
// retried with exponential backoff and jitter on 429, 5xx and connection
// errors, honouring Retry-After. Creates are not blindly retried: after an
// ambiguous failure the client looks the object up by name first, so no
// duplicate is created. Errors are *APIError with a closed Reason; they
// never contain the API key. The client imports no metrics library: an
// Observer callback reports each HTTP exchange.
package treasure
