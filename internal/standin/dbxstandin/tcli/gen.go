package tcli

// The files tcli.go, tcli-consts.go and GoUnusedProtection__.go are generated
// by Debian's thrift-compiler 0.17.0 from tcli.thrift and then gofmt'ed. The
// output compiles unchanged against the github.com/apache/thrift v0.23.0
// runtime, so no compatibility fixes are applied to the code. The only
// accommodation is staticcheck.conf in this directory, which turns off
// ST1005 (capitalised error strings) because the generator writes
// "Required field ... is not set" errors. Regenerate with go generate in this
// directory, with the thrift compiler on PATH.

//go:generate thrift --gen go:package_prefix=github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/,skip_remote -out .. tcli.thrift
//go:generate gofmt -w tcli.go tcli-consts.go GoUnusedProtection__.go
