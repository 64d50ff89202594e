// Package clv fits and scores the customer-value models of Fader, Hardie
// & Lee: the BG/NBD model of repeat purchasing ("Counting Your Customers
// the Easy Way", Marketing Science 24(2), 2005) and the Gamma-Gamma model
// of spend per transaction ("RFM and CLV: Using Iso-Value Curves for
// Customer Base Analysis", JMR 42(4), 2005).
//
// The package is pure: no I/O, no goroutines, no clock. It is the one home
// of gonum (optimisation and special functions), and sits below edge and
// hub so that the hub fits with the same code every edge scores with.
//
// Time is measured in periods (a day, a week: the caller's choice); a
// customer's Summary is counted in those periods from the first purchase:
// Frequency is the number of repeat transactions (the first purchase is
// not a repeat), Recency the time of the last transaction, Age the time
// from the first purchase to the end of the calibration period.
package clv
