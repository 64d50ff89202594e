package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// flagGroup is one titled section of a command's help (HTTP, storage,
// gossip, hub, security…), as HashiCorp's CLIs print them: the flags of
// that concern, then one example.
type flagGroup struct {
	title   string
	flags   []string
	example string
}

// printFlagGroups writes fs's flags section by section, each flag as
// "-name VALUE" with its usage (which names its UCV_* variable) and
// default below; a flag no group names is listed under "Other options",
// so none is ever missing from the help.
func printFlagGroups(w io.Writer, fs *flag.FlagSet, groups []flagGroup) {
	listed := map[string]bool{}
	var other []string
	fs.VisitAll(func(f *flag.Flag) {
		for _, g := range groups {
			if slices.Contains(g.flags, f.Name) {
				listed[f.Name] = true
			}
		}
		if !listed[f.Name] {
			other = append(other, f.Name)
		}
	})
	if len(other) > 0 {
		groups = append(slices.Clone(groups), flagGroup{title: "Other options", flags: other})
	}
	for _, g := range groups {
		var fl []*flag.Flag
		for _, name := range g.flags {
			if f := fs.Lookup(name); f != nil {
				fl = append(fl, f)
			}
		}
		if len(fl) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n\n", g.title)
		for _, f := range fl {
			name, usage := flag.UnquoteUsage(f)
			line := "  -" + f.Name
			if name != "" {
				line += " " + name
			}
			fmt.Fprintln(w, line)
			fmt.Fprintf(w, "      %s", strings.ReplaceAll(usage, "\n", "\n      "))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(w)
		}
		if g.example != "" {
			fmt.Fprintf(w, "\n  Example: %s\n", g.example)
		}
	}
}
