package identity

// Resolve is batch resolution: it trains a Model on recs (TrainResolved),
// loads them into a new Index and returns both. The result does not depend on the order of
// recs. progress, when not nil, is called as records are connected.
func Resolve(recs []Record, cfg Config, progress func(done, total int)) (*Model, *Index, error) {
	m, err := TrainResolved(recs, cfg)
	if err != nil {
		return nil, nil, err
	}
	ix := NewIndex(m)
	if err := ix.Load(recs, progress); err != nil {
		return nil, nil, err
	}
	return m, ix, nil
}
