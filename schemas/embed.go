package schemas

import "embed"

// FS holds the CUE module: cue.mod/module.cue and the files of package cas.
//
//go:embed cue.mod/module.cue cas/*.cue
var FS embed.FS

// ModulePath is the CUE module path of the schemas.
const ModulePath = "cas.treasuredata.dev/schemas@v0"

// ImportPath is the CUE import path of the package that defines #Repo.
const ImportPath = "cas.treasuredata.dev/schemas/cas"

// PackageDir is the directory of package cas within FS.
const PackageDir = "cas"
