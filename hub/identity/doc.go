// Package identity decides which customer records belong to the same
// person: deterministic matching on normalized identifiers under the same
// identity rules as the edge (profile.Rules), probabilistic Fellegi-Sunter
// matching with m/u probabilities estimated by expectation maximisation,
// multi-rule blocking with capped block sizes, and cluster-aware linking
// that checks a candidate merge against the whole cluster.
//
// The package is pure: no I/O, no goroutines, no clock reads and no
// dependence on map iteration order. The Raft FSM on every hub node calls
// it, so the same Model and the same records give byte-identical results
// everywhere. Clusters are a function of the set of records, not of the
// order they arrived in: batch resolution (Resolve) and incremental
// resolution (Index.Add, one record at a time, in any order) agree.
//
// The flow is Train (estimate a Model from unlabelled records), then
// either Resolve (batch) or NewIndex followed by Index.Add per record
// (incremental, as the hub does). Every merge carries a Link that says why:
// the rule or match weight, the comparison levels that fired and the
// identifiers involved.
//
// Explanations returned by Index.Explain and Link.Levels contain the
// compared values, because a data steward needs them to judge a merge;
// callers decide where they go. Errors and LogValue never contain raw
// personal data.
package identity
