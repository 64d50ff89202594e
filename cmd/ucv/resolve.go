package main

import (
	"context"
	"errors"
	"io"
)

// runResolve is replaced by the identity-resolution work (issue 5).
func runResolve(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("not built yet")
}
