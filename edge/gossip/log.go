package gossip

import (
	"bytes"
	"context"
	"log/slog"
)

// logWriter adapts memberlist's line logger to slog, and counts the
// packets memberlist refuses to decrypt (a wrong key or a foreign
// sender) as malformed. memberlist's lines carry addresses and node
// names, never profile data.
type logWriter struct{ n *Node }

func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	switch {
	case bytes.Contains(p, []byte("[ERR]")):
		level = slog.LevelError
	case bytes.Contains(p, []byte("[WARN]")):
		level = slog.LevelWarn
	case bytes.Contains(p, []byte("[DEBUG]")):
		level = slog.LevelDebug
	}
	if bytes.Contains(bytes.ToLower(p), []byte("crypt")) {
		w.n.stats.foreign.Add(1)
	}
	if bytes.Contains(p, []byte("memberlist: Suspect ")) {
		w.n.stats.suspicions.Add(1)
	}
	w.n.log.Log(context.Background(), level, "memberlist", "line", line)
	return len(p), nil
}
