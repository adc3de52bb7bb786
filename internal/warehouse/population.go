package warehouse

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/population"
)

// Count runs a compiled population statement and returns its counts, one
// per result column. timeout, when positive, bounds the statement (the
// driver cancels it on the warehouse when it runs out); the client's query
// timeout bounds it in any case.
func (c *Client) Count(ctx context.Context, st population.Statement, timeout time.Duration) ([]int64, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	args := make([]any, len(st.Params))
	for i, p := range st.Params {
		args[i] = sql.Named(p.Name, p.Value)
	}
	out := make([]int64, len(st.Columns))
	rows := 0
	err := c.query(ctx, KindPopulation, fmt.Sprintf("population of %d segment(s)", len(st.Columns)), st.SQL, args, func(r *sql.Rows) error {
		rows++
		ptrs := make([]any, len(out))
		for i := range out {
			ptrs[i] = &out[i]
		}
		return r.Scan(ptrs...)
	})
	if err != nil {
		return nil, err
	}
	if rows != 1 {
		return nil, fmt.Errorf("population statement returned %d rows, want 1", rows)
	}
	return out, nil
}

// Keys runs a compiled sample statement (population.CompileSample) and
// returns the customer keys it selects.
func (c *Client) Keys(ctx context.Context, st population.Statement, timeout time.Duration) ([]string, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	args := make([]any, len(st.Params))
	for i, p := range st.Params {
		args[i] = sql.Named(p.Name, p.Value)
	}
	var out []string
	err := c.query(ctx, KindPopulation, "population sample", st.SQL, args, func(r *sql.Rows) error {
		var k sql.NullString
		if err := r.Scan(&k); err != nil {
			return err
		}
		out = append(out, k.String)
		return nil
	})
	return out, err
}
