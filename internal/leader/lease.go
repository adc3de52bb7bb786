package leader

import (
	"encoding/json"
	"fmt"
	"time"
)

// Lease is a coordination.k8s.io/v1 Lease, reduced to the fields election
// reads and writes. Labels and annotations are carried through so that an
// update does not drop them.
type Lease struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       LeaseSpec  `json:"spec"`
}

// ObjectMeta is the part of a Kubernetes object's metadata a Lease needs.
type ObjectMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// ResourceVersion is set by the server; an update must send the value
	// it read, and fails with ErrConflict when the object changed since.
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

// LeaseSpec is the spec of a coordination.k8s.io/v1 Lease.
type LeaseSpec struct {
	// HolderIdentity names the current holder; empty when released.
	HolderIdentity string `json:"holderIdentity,omitempty"`
	// LeaseDurationSeconds is how long candidates wait after they last saw
	// the lease change before they may take it.
	LeaseDurationSeconds int32     `json:"leaseDurationSeconds,omitempty"`
	AcquireTime          MicroTime `json:"acquireTime,omitzero"`
	RenewTime            MicroTime `json:"renewTime,omitzero"`
	// LeaseTransitions counts changes of holder.
	LeaseTransitions int32 `json:"leaseTransitions,omitempty"`
}

// equal reports whether two specs record the same state.
func (s LeaseSpec) equal(o LeaseSpec) bool {
	return s.HolderIdentity == o.HolderIdentity && s.LeaseDurationSeconds == o.LeaseDurationSeconds &&
		s.AcquireTime.Equal(o.AcquireTime.Time) && s.RenewTime.Equal(o.RenewTime.Time) &&
		s.LeaseTransitions == o.LeaseTransitions
}

// MicroTime is a timestamp with microsecond precision, encoded as Kubernetes
// encodes metav1.MicroTime: RFC 3339 in UTC with six fractional digits, or
// null when zero.
type MicroTime struct {
	time.Time
}

const microTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON implements json.Marshaler.
func (t MicroTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(microTimeLayout))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *MicroTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = MicroTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("micro time: %w", err)
	}
	if s == "" {
		*t = MicroTime{}
		return nil
	}
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("micro time: %w", err)
	}
	t.Time = p
	return nil
}
