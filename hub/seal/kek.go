package seal

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KEKSize is the size of a key-encryption key in bytes (AES-256).
const KEKSize = 32

// maxKEKFileBytes bounds a KEK file: it holds a few keys.
const maxKEKFileBytes = 64 << 10

// ReadKEKFile reads a KEK file: one key a line, each the standard base64
// encoding (with or without padding) of 32 random bytes, e.g. the output
// of `head -c 32 /dev/urandom | base64`. Blank lines and lines starting
// with '#' are ignored. The first key is the current one: the key file is
// (re-)wrapped under it. Later keys are older ones still accepted for
// unwrapping, so rotating is: put a new key first, restart, then drop the
// old line once every node has started. Errors name the file and line,
// never a key.
func ReadKEKFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: kek file: %w", err)
	}
	if len(b) > maxKEKFileBytes {
		return nil, fmt.Errorf("seal: kek file %s: larger than %d bytes", path, maxKEKFileBytes)
	}
	return parseKEKs(path, b)
}

func parseKEKs(path string, b []byte) ([][]byte, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			k, err = base64.RawStdEncoding.DecodeString(line)
		}
		if err != nil || len(k) != KEKSize {
			return nil, fmt.Errorf("seal: kek file %s line %d: not the base64 of %d bytes", path, n, KEKSize)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("seal: kek file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("seal: kek file %s: no key", path)
	}
	return keys, nil
}

// EnsureKEKFile returns the keys of the KEK file at path, creating it
// (mode 0600, one fresh random key) when it does not exist. It is the
// fallback when no --kek-file is given: the KEK then lives beside the
// data it protects, which still shreds (an epoch key deleted from the
// key file is gone from every file), but anyone with a copy of the
// disk holds the KEK too; production gives --kek-file on other storage.
func EnsureKEKFile(path string) ([][]byte, error) {
	keys, err := ReadKEKFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return keys, err
	}
	k := make([]byte, KEKSize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("seal: generate kek: %w", err)
	}
	text := "# ucv hub key-encryption key, generated because no --kek-file was given.\n" +
		"# Keep a copy: without it the hub's Raft log and snapshots cannot be read.\n" +
		base64.StdEncoding.EncodeToString(k) + "\n"
	if err := writeFileAtomic(path, []byte(text)); err != nil {
		return nil, fmt.Errorf("seal: write generated kek file: %w", err)
	}
	return [][]byte{k}, nil
}

// writeFileAtomic replaces path with b (mode 0600): a temporary file in
// the same directory, fsync, rename over path, fsync of the directory.
func writeFileAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(b); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
