package catalog

import (
	"slices"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func TestRequestOf(t *testing.T) {
	customers := segment.Table{Catalog: "Main", Schema: "Retail", Table: "Customers"}
	orders := segment.Table{Catalog: "main", Schema: "retail", Table: "orders"}
	st := segment.State{Parents: []segment.Parent{
		{Name: "a", Customers: segment.KeyedTable{Table: customers, Key: "id"},
			Behaviors: []segment.Behavior{{Table: orders}}},
		// The same table under another case is one table.
		{Name: "b", Customers: segment.KeyedTable{Table: segment.Table{Catalog: "main", Schema: "retail", Table: "customers"}, Key: "id"}},
		// A parent without a key has nothing to check.
		{Name: "c", Behaviors: []segment.Behavior{{Table: orders}}},
	}}

	plain := RequestOf(st, false)
	if want := []segment.Table{customers, orders}; !slices.Equal(plain.Tables, want) {
		t.Errorf("tables %v, want %v", plain.Tables, want)
	}
	if len(plain.Keys) != 0 {
		t.Errorf("keys %v without the uniqueness check", plain.Keys)
	}

	keyed := RequestOf(st, true)
	if len(keyed.Keys) != 2 || keyed.Keys[0].Table != customers || keyed.Keys[0].Key != "id" {
		t.Errorf("keys %v, want the customers key of a and b", keyed.Keys)
	}
	if !slices.Equal(keyed.Tables, plain.Tables) {
		t.Errorf("the uniqueness check changed the tables: %v", keyed.Tables)
	}
	if keyed.ID() == plain.ID() {
		t.Errorf("a request with keys has the ID of one without: %q", keyed.ID())
	}
	if RequestOf(st, true).ID() != keyed.ID() {
		t.Error("the same state gives two IDs")
	}
	st.Parents[0].Customers.Key = "ID" // Unity Catalog compares column names without regard to case
	if RequestOf(st, true).ID() != keyed.ID() {
		t.Error("the ID depends on the case of a column name")
	}
	st.Parents[0].Customers.Key = "email"
	if RequestOf(st, true).ID() == keyed.ID() {
		t.Error("another key column gives the same ID")
	}
}
