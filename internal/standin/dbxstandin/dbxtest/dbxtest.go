//go:build cgo

package dbxtest

import (
	"testing"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
)

// Start loads the fixture at path (absolute, or relative to the test's
// working directory), serves it on 127.0.0.1 and closes the server when the
// test ends.
func Start(t testing.TB, path string) (*dbxstandin.Server, dbxstandin.Endpoint) {
	t.Helper()
	fx, err := dbxstandin.LoadFixture(path)
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, fx)
}

// Serve serves fx on 127.0.0.1 and closes the server when the test ends.
func Serve(t testing.TB, fx dbxstandin.Fixture, opts ...dbxstandin.Option) (*dbxstandin.Server, dbxstandin.Endpoint) {
	t.Helper()
	srv, err := dbxstandin.New(fx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ep, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	return srv, ep
}
