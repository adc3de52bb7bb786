// Package tdstandin is an in-process stand-in for the parts of Treasure
// Data's CDP API that the reconciler uses: composable parent segments
// (the CAS configuration upload and /audiences), the classic connection
// lookup (/v3/connections/lookup), folders (/entities/folders,
// /entities/by-folder) and composable segments (/entities/segments).
//
// It speaks the documented wire shapes over real HTTP, including the
// documented quirks: ids are numeric strings; a parent segment gets a root
// folder when it is created; PUT /audiences/{id} with a master block
// replaces every attribute and behavior (new ids each time); listings
// (by-folder) return segments with an empty rule, or none with
// with_rule=false; duplicate names are answered 400 "has already been
// taken"; deleting a referenced segment or a non-empty folder is answered
// 409; unknown ids are answered 404 record-not-found-error; an unknown
// connection is answered CONNECTION_NOT_FOUND.
//
// Authentication is "Authorization: TD1 <key>". Master keys may do
// everything. Write-only keys exist in Treasure Data for data import only,
// so the stand-in answers 403 to every CDP request made with one (reads and
// writes alike); a missing or unknown key is answered 401, and so is a key
// revoked with RevokeKey.
//
// Tests steer it: Inject queues faults (429 with Retry-After, 5xx, delays,
// dropped connections, optionally only for matching requests); Requests
// returns the request log; ModifySegment, ModifyFolder and ModifyParent
// change an object as another user would (drift). With Options.StatePath
// the whole state is saved to a JSON file after every change and loaded on
// start, so a demo survives a restart.
package tdstandin
