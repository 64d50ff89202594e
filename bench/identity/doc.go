// Package identity measures identity resolution (package hub/identity)
// against data sets with ground truth: FEBRL 1–4, Splink's historical_50k
// and "customers", customer records from four source systems that
// GenerateCustomers builds in memory from a fixed seed (households,
// twins, Jr/Sr, movers, organisations, name and format variants; see
// docs/decisions/0043-customer-records-benchmark.md), and
// "customers-realistic", the same records with names drawn at realistic
// frequencies (GenerateCustomersWith NamesRealistic; decision 0092). It
// loads them,
// runs training and batch resolution exactly as `ucv resolve` does, and
// scores the clusters: pairwise and
// cluster-level precision, recall and F1, B-cubed F1, blocking pairs
// completeness, comparisons per record, pair-scoring throughput and wall
// time; on the customers set it also classifies the errors by phenomenon
// (CustomerData.Analyze). The ground truth is used only for scoring, never
// for training.
package identity
