package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"ucv/hub/token"
)

const tokensUsage = `Usage: ucv tokens hash [--cost N] < secret
       ucv tokens create --name NAME --role ROLE --secret-file PATH [--cost N] >> tokens

Makes the lines of the hub's tokens file (ucv hub --tokens-file), one
"name role secret-hash" line per token. The roles are admin, steward,
privacy, auditor, sync (an edge: the name is the edge's ID) and node (hub
nodes among themselves); README.md "Hub roles" lists what each may do.

  hash    reads a secret (one line) on stdin and prints its bcrypt hash.
  create  makes a random secret NAME.xxxxx, writes it to --secret-file
          (mode 0600, which must not exist yet) for the client that presents
          it, and prints the tokens-file line. The NAME. prefix lets the hub
          check that token's hash first.

Flags:
`

// stdin is what `ucv tokens hash` reads (tests replace it).
var stdin io.Reader = os.Stdin

// runTokens implements `ucv tokens hash` and `ucv tokens create`.
func runTokens(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), tokensUsage)
		fs.PrintDefaults()
	}
	cost := fs.Int("cost", token.DefaultCost, "bcrypt cost: each step doubles the work of one check")
	name := fs.String("name", "", "create: the token's name (for role sync, the edge's ID)")
	role := fs.String("role", "", "create: admin, steward, privacy, auditor, sync or node")
	secretFile := fs.String("secret-file", "", "create: where to write the new secret")
	if len(args) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: want hash or create", errUsage)
	}
	sub := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	switch sub {
	case "-h", "-help", "--help":
		fs.Usage()
		return flag.ErrHelp
	case "hash":
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the secret: %w", err)
		}
		h, err := token.Hash(strings.TrimRight(line, "\r\n"), *cost)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		fmt.Fprintln(stdout, h)
		return nil
	case "create":
		r, err := token.ParseRole(*role)
		switch {
		case *name == "" || strings.ContainsAny(*name, " \t\r\n"):
			return fmt.Errorf("%w: --name is required, without white space", errUsage)
		case err != nil:
			return fmt.Errorf("%w: --role: %w", errUsage, err)
		case *secretFile == "":
			return fmt.Errorf("%w: --secret-file is required (the secret is not printed)", errUsage)
		}
		secret, err := token.NewSecret(*name)
		if err != nil {
			return err
		}
		h, err := token.Hash(secret, *cost)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		f, err := os.OpenFile(*secretFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("--secret-file: %w", err)
		}
		if _, err := fmt.Fprintln(f, secret); err != nil {
			f.Close()
			return fmt.Errorf("--secret-file: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("--secret-file: %w", err)
		}
		fmt.Fprintf(stdout, "%s %s %s\n", *name, r, h)
		return nil
	}
	return fmt.Errorf("%w: unknown tokens command %q: want hash or create", errUsage, sub)
}
