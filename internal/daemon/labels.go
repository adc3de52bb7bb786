package daemon

import (
	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/metrics"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// unresolvedConflict is the reason label of a conflict in
// reconciler_unresolved_changes: the name of the conflict action.
var unresolvedConflict = plan.Conflict.String()

// metricLabels returns the label value sets of the metrics that say how
// something ended or why, from the enums of the packages that decide them:
// the run's condition (reconcile.Conditions), its steps (reconcile.Steps),
// the apply outcome of a change (apply.Outcomes) and the block reason plan
// gives a change (plan.Blocks).
func metricLabels() metrics.Labels {
	l := metrics.Labels{RunSuccess: reconcile.ConditionSucceeded.String(), Steps: reconcile.Steps,
		UnresolvedReasons: []string{unresolvedConflict}}
	for _, c := range reconcile.Conditions() {
		l.RunResults = append(l.RunResults, c.String())
	}
	for _, o := range apply.Outcomes() {
		l.ApplyOutcomes = append(l.ApplyOutcomes, o.String())
	}
	for _, b := range plan.Blocks {
		if b.Prune() {
			l.PruneReasons = append(l.PruneReasons, b.String())
		}
		if b.Unresolved() {
			l.UnresolvedReasons = append(l.UnresolvedReasons, b.String())
		}
	}
	return l
}

// MetricLabels returns the label value sets the daemon gives its metrics
// (metrics.New).
func MetricLabels() metrics.Labels { return metricLabels() }
