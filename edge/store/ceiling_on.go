//go:build benchceiling

package store

// benchCeiling is set in a build made with -tags benchceiling, for
// measurement only (bench/README.md, "Without the applier"; make
// bench-ceiling): the applier drops batches of the ingest benchmarks'
// events after they were logged and acknowledged, so a run measures what
// HTTP, parsing and the durable log cost without the applier. Never ship
// such a build: it loses those events.
const benchCeiling = true
