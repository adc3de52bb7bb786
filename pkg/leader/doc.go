// Package leader runs the reconciler's work on exactly one replica at a time.
//
// In Kubernetes several replicas of the daemon may run for availability, but
// only one may change Treasure Data. Run campaigns for a coordination.k8s.io
// Lease through client-go's leader election; the replica that holds the lease
// runs the work, the others wait and take over when the holder stops renewing
// (it crashed, was partitioned, or shut down and released the lease).
//
// Outside Kubernetes election is switched off (Options.Enabled false) and Run
// simply runs the work: a single process is trivially the only leader.
package leader
