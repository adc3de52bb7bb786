// Package schedule runs named jobs on cron schedules, one job per source.
//
// A Scheduler owns one goroutine per job and guarantees:
//
//   - Schedules are cron expressions ("*/5 * * * *") or descriptors
//     ("@every 5m", "@hourly"), parsed with github.com/robfig/cron/v3 and
//     evaluated in Options.Location (UTC by default). Specs are validated
//     when a job is added: malformed specs, and TZ=/CRON_TZ= prefixes (which
//     can panic the parser), are returned as errors.
//   - Each job gets a fixed offset in [0, Options.Jitter), derived from its
//     name, so many sources on the same schedule do not fire together, and
//     each source fires at the same offset every time.
//   - At most one run per job is in flight. A Trigger (or a retry) that
//     arrives while the job runs is remembered and coalesced: the job runs
//     exactly once more after the current run, however many triggers came.
//     Scheduled ticks that fall while the job runs are skipped. This is what
//     turns a burst of webhook deliveries into one extra run.
//   - A panic in a run is recovered and counted as a failed run; the job
//     keeps its schedule.
//   - A failed run is retried with exponential backoff (BackoffBase doubling
//     up to BackoffMax) on a timer of its own, independent of the cron
//     schedule; a successful run resets the backoff. A run whose error is
//     wrapped with RetryAfter (a server's Retry-After) is retried no earlier
//     than that delay, capped at BackoffMax.
//   - A run that returns an error wrapped with Stalled is not retried: the
//     job waits for its next tick or trigger. While a job is stalled and has
//     a Changed hook, each tick or trigger first asks the hook whether
//     anything is new (for example, whether the git revision moved) and the
//     run is skipped when nothing is.
//   - Jobs can be suspended and resumed. Resuming runs the job at once.
//   - Stop stops scheduling and waits for in-flight runs until its context
//     ends, then cancels their contexts.
//
// Decisions about what a run does, freeze windows included, belong to the
// job's Run function, which receives the reason for each run.
//
// Time comes from the time package, so tests drive the scheduler with fake
// time in testing/synctest bubbles.
package schedule
