// Package version holds the build's version, stamped at link time with
//
//	-ldflags "-X github.com/cas-reconciler/reconciler/internal/version.Version=v1.2.3
//	          -X github.com/cas-reconciler/reconciler/internal/version.Commit=<sha>"
package version

// Version is the release version; "dev" for unstamped builds.
var Version = "dev"

// Commit is the git commit the binary was built from.
var Commit = "unknown"

// UserAgent returns the User-Agent product token for outbound requests.
func UserAgent() string { return "cas-reconciler/" + Version }
