package store

// The data file's page size (docs/decisions/0104-page-size.md).

const (
	// MinPageSize and MaxPageSize bound Options.PageSize.
	MinPageSize = 4096
	MaxPageSize = 65536
)

// ValidPageSize reports whether n may be a data file's page size: a
// power of two from MinPageSize to MaxPageSize.
func ValidPageSize(n int) bool {
	return n >= MinPageSize && n <= MaxPageSize && n&(n-1) == 0
}
