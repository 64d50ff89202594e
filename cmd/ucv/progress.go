package main

import (
	"io"

	"github.com/schollz/progressbar/v3"
)

// progress wraps a progress bar on stderr. The zero value and a nil
// receiver do nothing.
type progress struct{ bar *progressbar.ProgressBar }

func newProgress(w io.Writer, total int, what string) *progress {
	return &progress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) set(done, _ int) {
	if p != nil && p.bar != nil {
		_ = p.bar.Set(done)
	}
}

func (p *progress) finish() {
	if p != nil && p.bar != nil {
		_ = p.bar.Finish()
	}
}
