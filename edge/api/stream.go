package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"ucv/edge/store"
)

// The live stream (GET /v1/stream): Server-Sent Events of what changes
// on this edge's profiles — profile.updated (ID, version, changed trait
// keys) and audience.entered / audience.exited — for a store display or
// a clienteling app beside the till, offline too. Every event has an id;
// a client that reconnects with Last-Event-ID (EventSource does) resumes
// after it from the store's bounded buffer, or gets a stream.reset event
// when it missed more than the buffer holds (or the edge restarted):
// it should then re-read what it shows. docs/decisions/0035-edge-stream.md.

const (
	routeStream = "/v1/stream"
	// streamHeartbeat is how often an idle stream sends a comment, so
	// proxies and clients see it alive and a gone client is noticed.
	streamHeartbeat = 15 * time.Second
	// streamWriteTimeout bounds one write to a stream's client.
	streamWriteTimeout = 10 * time.Second
)

var streamTypes = []string{store.ChangeUpdated, store.ChangeAudienceEnter, store.ChangeAudienceExited}

// streamFilter is a stream's ?types= and ?audiences=.
type streamFilter struct {
	types     []string // nil: all
	audiences []string // nil: all; filters audience events only
}

func (f streamFilter) pass(c store.Change) bool {
	if f.types != nil && !slices.Contains(f.types, c.Type) {
		return false
	}
	if f.audiences != nil && c.Audience != "" && !slices.Contains(f.audiences, c.Audience) {
		return false
	}
	return true
}

func splitList(b []byte) []string {
	var out []string
	for _, s := range strings.Split(string(b), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// streamEvent is an event's data.
type streamEvent struct {
	Type      string    `json:"type"`
	ProfileID string    `json:"profile_id"`
	Version   string    `json:"version"`
	Traits    []string  `json:"traits,omitempty"`
	Audience  string    `json:"audience,omitempty"`
	At        time.Time `json:"at"`
}

func (s *Server) stream(ctx *fasthttp.RequestCtx) error {
	if err := s.authorizeRead(ctx, ScopeStream); err != nil {
		return err
	}
	if !ctx.IsGet() {
		return methodNotAllowed("GET")
	}
	var f streamFilter
	args := ctx.QueryArgs()
	if v := args.Peek("types"); len(v) > 0 {
		f.types = splitList(v)
		for _, t := range f.types {
			if !slices.Contains(streamTypes, t) {
				return errorf(ErrBadRequest, fmt.Sprintf("types: %q is not one of %s", t, strings.Join(streamTypes, ", ")))
			}
		}
	}
	if v := args.Peek("audiences"); len(v) > 0 {
		f.audiences = splitList(v)
	}
	var after uint64
	last := ctx.Request.Header.Peek("Last-Event-ID")
	if len(last) == 0 {
		last = args.Peek("last_event_id")
	}
	if len(last) > 0 {
		n, err := strconv.ParseUint(string(last), 10, 64)
		if err != nil || n == 0 {
			return errorf(ErrBadRequest, "Last-Event-ID: not an event id this stream sent")
		}
		after = n
	}
	// Take the position now, so that nothing committed after the 200
	// is missed.
	_, start, reset, _ := s.st.Changes(after, 0)
	if after == 0 {
		after = start
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	conn := ctx.Conn()
	stop := s.stop
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		flush := func() bool {
			conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			return w.Flush() == nil
		}
		if reset {
			fmt.Fprintf(w, "id: %d\nevent: stream.reset\ndata: {\"type\":\"stream.reset\",\"reason\":\"events after the given id are no longer held\"}\n\n", start)
			after = start
		}
		fmt.Fprint(w, "retry: 2000\n\n")
		if !flush() {
			return
		}
		heartbeat := time.NewTicker(streamHeartbeat)
		defer heartbeat.Stop()
		for {
			cs, next, missed, wake := s.st.Changes(after, 256)
			if missed {
				fmt.Fprintf(w, "id: %d\nevent: stream.reset\ndata: {\"type\":\"stream.reset\",\"reason\":\"the stream fell behind the buffer\"}\n\n", next)
				cs = nil
			}
			for _, c := range cs {
				if !f.pass(c) {
					continue
				}
				data, _ := json.Marshal(streamEvent{Type: c.Type, ProfileID: c.ProfileID, Version: c.Version, Traits: c.Traits, Audience: c.Audience, At: c.At})
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", c.Seq, c.Type, data)
			}
			after = next
			if len(cs) > 0 || missed {
				if !flush() {
					return
				}
				if len(cs) == 256 {
					continue
				}
			}
			select {
			case <-wake:
			case <-heartbeat.C:
				fmt.Fprint(w, ": ping\n\n")
				if !flush() {
					return
				}
			case <-stop:
				return
			}
		}
	})
	return nil
}
