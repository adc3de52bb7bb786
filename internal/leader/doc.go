// Package leader runs the reconciler's work on exactly one replica at a time.
//
// In Kubernetes several replicas of the daemon may run for availability, but
// only one may change Treasure Data. Run campaigns for a coordination.k8s.io
// Lease; the replica that holds the lease runs the work, the others wait and
// take over when the holder stops renewing (it crashed, was partitioned, or
// shut down and released the lease).
//
// The election follows the rules of Kubernetes' own leader election, so that
// it interoperates with other clients of the same lease: a candidate takes a
// lease that does not exist, has no holder, or has not changed for its
// leaseDurationSeconds as measured by the candidate's own clock; every write
// is conditional on the resourceVersion read; leaseTransitions counts changes
// of holder. A follower tries again the moment the lease it saw would
// expire, so a crashed leader is replaced between LeaseDuration and
// LeaseDuration plus 1.2 × RetryPeriod after its last renewal (15 to 17.4
// seconds with the defaults). The lease is read and written through the Kubernetes REST API
// by Client, a small client of the three endpoints needed, authenticated
// with the pod's service account (InClusterClient).
//
// RunShards splits the work into shards, one Lease each (ShardLeaseName):
// sources are assigned to shards by rendezvous hashing of their names
// (ShardOf), each replica runs the work of the shards it holds, and the
// shards of a replica that died move to the others. A replica holding more
// shards waits longer before it takes a free one, so shards spread over the
// replicas. One shard is exactly the single election above.
//
// Outside Kubernetes election is switched off (Options.Enabled false) and Run
// simply runs the work: a single process is trivially the only leader.
package leader
