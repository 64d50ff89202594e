package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

var errEOF = io.ErrUnexpectedEOF

// HTTPGet is HTTP/1.1 keep-alive GET of Path(i).
type HTTPGet struct {
	Host string
	Path func(i int) string
	// Header lines to add, each ending in "\r\n".
	Header string
}

// Request implements Proto.
func (h HTTPGet) Request(dst []byte, i int) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, h.Path(i)...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, h.Host...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, h.Header...)
	return append(dst, "\r\n"...)
}

// Response implements Proto.
func (HTTPGet) Response(r *bufio.Reader) error { return readHTTPResponse(r) }

// HTTPPost is HTTP/1.1 keep-alive POST of Body(i) to Path.
type HTTPPost struct {
	Host, Path string
	Body       func(i int) []byte
	Header     string
}

// Request implements Proto.
func (h HTTPPost) Request(dst []byte, i int) []byte {
	body := h.Body(i)
	dst = append(dst, "POST "...)
	dst = append(dst, h.Path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, h.Host...)
	dst = append(dst, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, h.Header...)
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// Response implements Proto.
func (HTTPPost) Response(r *bufio.Reader) error { return readHTTPResponse(r) }

func readHTTPResponse(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return fmt.Errorf("load: bad status line %q", line)
	}
	status := line[9] - '0'
	n := -1
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && bytes.EqualFold(h[:15], []byte("content-length:")) {
			n, err = strconv.Atoi(string(bytes.TrimSpace(h[15:])))
			if err != nil {
				return fmt.Errorf("load: bad content-length")
			}
		}
	}
	if n < 0 {
		return errors.New("load: response without content-length")
	}
	if _, err := r.Discard(n); err != nil {
		return err
	}
	if status != 2 {
		return fmt.Errorf("load: status %cxx", '0'+status)
	}
	return nil
}

// RedisGet is the RESP command GET Key(i).
type RedisGet struct {
	Key func(i int) string
}

// Request implements Proto.
func (g RedisGet) Request(dst []byte, i int) []byte {
	k := g.Key(i)
	dst = append(dst, "*2\r\n$3\r\nGET\r\n$"...)
	dst = strconv.AppendInt(dst, int64(len(k)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, k...)
	return append(dst, "\r\n"...)
}

// Response implements Proto: a bulk string; nil or an error reply fail.
func (RedisGet) Response(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 3 || line[0] != '$' {
		return fmt.Errorf("load: redis replied %q", bytes.TrimSpace(line))
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil {
		return err
	}
	if n < 0 {
		return errors.New("load: redis key missing")
	}
	_, err = r.Discard(n + 2)
	return err
}

// RedisSetPipeline writes SET commands for keys [from, to) with value(i)
// in one pipelined burst and reads all replies.
func RedisSetPipeline(w *bufio.Writer, r *bufio.Reader, from, to int, key func(int) string, value func(int) []byte) error {
	for i := from; i < to; i++ {
		k, v := key(i), value(i)
		fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", len(k), k, len(v))
		w.Write(v)
		w.WriteString("\r\n")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for i := from; i < to; i++ {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if line[0] != '+' {
			return fmt.Errorf("load: SET replied %q", bytes.TrimSpace(line))
		}
	}
	return nil
}
