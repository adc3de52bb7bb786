package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cas-reconciler/reconciler/internal/metrics"
	"github.com/cas-reconciler/reconciler/internal/wiring"
)

// wired builds the clients of opts.Config as the binary does (wiring.Build
// with the daemon's logger and clock, reporting to a recorder on reg; wo
// adjusts them) and returns New with them.
func wired(opts Options, reg *prometheus.Registry, wo wiring.Options) (*Daemon, error) {
	rec := metrics.New(reg)
	wo.Logger, wo.Metrics = opts.Logger, rec
	if wo.Now == nil {
		wo.Now = opts.Now
	}
	if opts.Config != nil {
		clients, err := wiring.Build(opts.Config, wo)
		if err != nil {
			return nil, err
		}
		opts.Clients = clients
	}
	opts.Metrics, opts.Gatherer = rec, reg
	return New(opts)
}
