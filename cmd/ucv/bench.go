package main

import (
	"context"
	"errors"
	"io"
)

// runBench is replaced by the benchmark work (issue 5 and later).
func runBench(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("not built yet")
}
