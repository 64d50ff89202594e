// Package identity measures identity resolution (package hub/identity)
// against data sets with ground truth: FEBRL 1–4 and Splink's
// historical_50k. It loads them, runs training and batch resolution
// exactly as `ucv resolve` does, and scores the clusters: pairwise and
// cluster-level precision, recall and F1, B-cubed F1, blocking pairs
// completeness, comparisons per record, pair-scoring throughput and wall
// time. The ground truth is used only for scoring, never for training.
package identity
