package hub

import "ucv/crdt/codec"

// writeAudiences writes the membership and transition records of the
// snapshot and returns their counts.
func (s *snapshot) writeAudiences(enc *codec.Encoder, put func(byte, func() error) bool) (members, transits int) {
	return 0, 0
}

// AudienceSize returns the number of clusters in audience name (0 for
// an unknown audience). Safe for concurrent use.
func (f *FSM) AudienceSize(name string) int {
	return 0
}
