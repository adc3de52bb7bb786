package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts standard five-field cron expressions and descriptors
// (@every <duration>, @hourly, @daily, ...).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSpec validates a schedule spec and returns its schedule evaluated in
// loc (UTC when nil). It never panics: robfig/cron v3.0.1 panics on some
// malformed time zone prefixes, so TZ= and CRON_TZ= prefixes are rejected
// (set the location instead) and any parser panic becomes an error.
func ParseSpec(spec string, loc *time.Location) (s cron.Schedule, err error) {
	if loc == nil {
		loc = time.UTC
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q: time zone prefixes are not supported; configure the location instead", spec)
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("schedule %q: invalid: %v", spec, r)
		}
	}()
	s, err = parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	switch sc := s.(type) {
	case *cron.SpecSchedule:
		// The parser defaults to time.Local; never depend on the host's zone.
		sc.Location = loc
	case cron.ConstantDelaySchedule:
		if sc.Delay < time.Second {
			return nil, fmt.Errorf("schedule %q: interval must be at least 1s", spec)
		}
	}
	return s, nil
}
