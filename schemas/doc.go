// Package schemas embeds the CUE schemas of segment repositories into the
// binary.
//
// The schemas form the CUE module cas.treasuredata.dev/schemas@v0. Its
// package cas (import path "cas.treasuredata.dev/schemas/cas") defines #Repo,
// the shape of every file of a segment repository, and the definitions it is
// built from: #Parent, #Folder, #Segment, the short conditions #Where, and
// Treasure Data's full v5 rule #Rule.
package schemas
