package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// KeyFileName is the key file's name in the data directory.
const KeyFileName = "seal.keys"

// Key file layout: keyFileMagic, the 8-byte ID of the KEK that wraps it
// (kekID), a 12-byte random nonce, then the AES-256-GCM sealing of the
// JSON keyState under that KEK with magic and KEK ID as additional data.
const (
	keyFileMagic   = "UCVKEYS1"
	keyFileVersion = 1
	kekIDSize      = 8
	nonceSize      = 12
	tagSize        = 16
	keySize        = 32
	// maxKeyFileBytes bounds the key file; it holds a few epochs.
	maxKeyFileBytes = 1 << 20
)

// Errors. They never carry key material.
var (
	// ErrUnknownEpoch: the entry or snapshot was sealed under an epoch
	// whose key is not (or no longer) in the keyring — shredded, or the
	// key file is not this data directory's.
	ErrUnknownEpoch = errors.New("seal: sealed under an epoch the keyring does not hold")
	// ErrTampered: authentication failed — the bytes, or the index, term
	// or position they were sealed at, were changed, or a snapshot was
	// truncated.
	ErrTampered = errors.New("seal: authentication failed (tampered, moved or truncated)")
	// ErrWrongKEK: no key of the KEK file unwraps the key file.
	ErrWrongKEK = errors.New("seal: no key of the kek file unwraps the key file")
)

// epochState is one epoch in the key file.
type epochState struct {
	ID      uint32    `json:"id"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
	// Last, for a retired epoch, bounds the log indexes written under it:
	// the log store's last index when the next epoch started.
	Last uint64 `json:"last,omitempty"`
}

// keyState is the key file's plaintext.
type keyState struct {
	Version int          `json:"version"`
	Current uint32       `json:"current"`
	Epochs  []epochState `json:"epochs"`
	// Legacy bounds the indexes of unsealed log entries written before
	// the key file existed; 0: none.
	Legacy uint64 `json:"legacy,omitempty"`
}

// Keyring is the epoch keys of one data directory. Safe for concurrent
// use; sealing and opening take a read lock only.
type Keyring struct {
	path string
	keks [][]byte // keks[0] wraps the file

	mu    sync.RWMutex
	st    keyState
	aeads map[uint32]cipher.AEAD
	fresh bool // the key file was created by this Open

	// Nonces of log entries: a random 4-byte prefix and a counter from a
	// random start, drawn at Open, so two processes (or two opens) never
	// reuse a nonce under one key in practice, however long an epoch.
	noncePrefix [4]byte
	nonceCtr    atomic.Uint64
}

// kekID names a KEK without revealing it.
func kekID(kek []byte) []byte {
	h := sha256.Sum256(append([]byte("ucv hub/seal kek id\x00"), kek...))
	return h[:kekIDSize]
}

// Open reads the key file in dir, unwrapping it with one of keks (the
// first is current; a file wrapped under an older one is rewritten under
// the first), or creates it with one fresh epoch when it does not exist.
func Open(dir string, keks [][]byte) (*Keyring, error) {
	if len(keks) == 0 {
		return nil, errors.New("seal: no kek")
	}
	for i, k := range keks {
		if len(k) != KEKSize {
			return nil, fmt.Errorf("seal: kek %d: %d bytes, want %d", i+1, len(k), KEKSize)
		}
	}
	k := &Keyring{path: filepath.Join(dir, KeyFileName), keks: keks}
	if _, err := rand.Read(k.noncePrefix[:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	var start [8]byte
	if _, err := rand.Read(start[:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	k.nonceCtr.Store(binary.BigEndian.Uint64(start[:]))

	b, err := os.ReadFile(k.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key, err := newKey()
		if err != nil {
			return nil, err
		}
		st := keyState{Version: keyFileVersion, Current: 1, Epochs: []epochState{{ID: 1, Key: key, Created: time.Now().UTC()}}}
		if err := k.install(st); err != nil {
			return nil, err
		}
		k.fresh = true
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	st, used, err := unwrap(b, keks)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", k.path, err)
	}
	if err := k.setState(st); err != nil {
		return nil, err
	}
	if used != 0 { // wrapped under an older KEK: rewrap under the current one
		if err := k.write(st); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func newKey() ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("seal: generate key: %w", err)
	}
	return key, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return a, nil
}

// unwrap decodes a key file, returning which KEK opened it.
func unwrap(b []byte, keks [][]byte) (keyState, int, error) {
	var st keyState
	hdr := len(keyFileMagic) + kekIDSize
	if len(b) > maxKeyFileBytes || len(b) < hdr+nonceSize+tagSize || string(b[:len(keyFileMagic)]) != keyFileMagic {
		return st, 0, errors.New("not a seal key file")
	}
	id := b[len(keyFileMagic):hdr]
	for i, kek := range keks {
		if string(kekID(kek)) != string(id) {
			continue
		}
		a, err := newAEAD(kek)
		if err != nil {
			return st, 0, err
		}
		plain, err := a.Open(nil, b[hdr:hdr+nonceSize], b[hdr+nonceSize:], b[:hdr])
		if err != nil {
			return st, 0, ErrTampered
		}
		if err := json.Unmarshal(plain, &st); err != nil {
			return st, 0, fmt.Errorf("decode: %w", err)
		}
		clear(plain)
		if st.Version != keyFileVersion {
			return st, 0, fmt.Errorf("version %d, want %d", st.Version, keyFileVersion)
		}
		return st, i, nil
	}
	return st, 0, ErrWrongKEK
}

// setState checks st and builds its ciphers.
func (k *Keyring) setState(st keyState) error {
	aeads := make(map[uint32]cipher.AEAD, len(st.Epochs))
	for _, e := range st.Epochs {
		if len(e.Key) != keySize || e.ID == 0 {
			return fmt.Errorf("seal: key file: epoch %d malformed", e.ID)
		}
		a, err := newAEAD(e.Key)
		if err != nil {
			return err
		}
		aeads[e.ID] = a
	}
	if _, ok := aeads[st.Current]; !ok {
		return fmt.Errorf("seal: key file: current epoch %d has no key", st.Current)
	}
	k.st, k.aeads = st, aeads
	return nil
}

// install writes st and then makes it the keyring's state. Callers hold
// k.mu (or own k exclusively).
func (k *Keyring) install(st keyState) error {
	if err := k.write(st); err != nil {
		return err
	}
	return k.setState(st)
}

// write seals st under the current KEK and replaces the key file.
func (k *Keyring) write(st keyState) error {
	plain, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("seal: encode key file: %w", err)
	}
	defer clear(plain)
	a, err := newAEAD(k.keks[0])
	if err != nil {
		return err
	}
	out := make([]byte, 0, len(keyFileMagic)+kekIDSize+nonceSize+len(plain)+tagSize)
	out = append(out, keyFileMagic...)
	out = append(out, kekID(k.keks[0])...)
	hdr := len(out)
	out = out[:hdr+nonceSize]
	if _, err := rand.Read(out[hdr:]); err != nil {
		return fmt.Errorf("seal: nonce: %w", err)
	}
	out = a.Seal(out, out[hdr:hdr+nonceSize], plain, out[:hdr])
	if err := writeFileAtomic(k.path, out); err != nil {
		return fmt.Errorf("seal: write key file: %w", err)
	}
	return nil
}

// Current returns the current epoch.
func (k *Keyring) Current() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.st.Current
}

// Epochs returns the epochs whose keys the keyring holds, oldest first.
func (k *Keyring) Epochs() []uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]uint32, 0, len(k.st.Epochs))
	for _, e := range k.st.Epochs {
		ids = append(ids, e.ID)
	}
	return ids
}

// Has reports whether the keyring holds epoch's key.
func (k *Keyring) Has(epoch uint32) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, ok := k.aeads[epoch]
	return ok
}

// clone deep-copies st so a failed write leaves the keyring unchanged.
func (st keyState) clone() keyState {
	st.Epochs = slices.Clone(st.Epochs)
	return st
}

// rotate starts a new epoch; the current one retires with Last = last
// (the log store's last index: every entry it sealed is at or below).
func (k *Keyring) rotate(last uint64) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, err := newKey()
	if err != nil {
		return 0, err
	}
	st := k.st.clone()
	next := st.Current
	for i, e := range st.Epochs {
		next = max(next, e.ID)
		if e.ID == st.Current {
			st.Epochs[i].Last = last
		}
	}
	next++
	st.Epochs = append(st.Epochs, epochState{ID: next, Key: key, Created: time.Now().UTC()})
	st.Current = next
	if err := k.install(st); err != nil {
		return 0, err
	}
	return next, nil
}

// retiredBound returns the highest index any entry sealed under a
// retired epoch (or left unsealed from before the key file) may have; 0
// when there is none.
func (k *Keyring) retiredBound() uint64 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	b := k.st.Legacy
	for _, e := range k.st.Epochs {
		if e.ID != k.st.Current {
			b = max(b, e.Last)
		}
	}
	return b
}

// destroyRetired deletes every epoch key but the current one (and the
// legacy bound) from the key file and from memory.
func (k *Keyring) destroyRetired() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.st.clone()
	st.Legacy = 0
	st.Epochs = slices.DeleteFunc(st.Epochs, func(e epochState) bool { return e.ID != st.Current })
	return k.install(st)
}

// setLegacy records that unsealed entries may exist up to index last.
func (k *Keyring) setLegacy(last uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if last <= k.st.Legacy {
		return nil
	}
	st := k.st.clone()
	st.Legacy = last
	return k.install(st)
}

// nonce fills dst (12 bytes) with the next log entry nonce.
func (k *Keyring) nonce(dst []byte) {
	copy(dst, k.noncePrefix[:])
	binary.BigEndian.PutUint64(dst[4:], k.nonceCtr.Add(1))
}

// current returns the current epoch and its cipher. Callers must not
// keep the cipher past a destroy of its epoch.
func (k *Keyring) current() (uint32, cipher.AEAD) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.st.Current, k.aeads[k.st.Current]
}

// aead returns epoch's cipher.
func (k *Keyring) aead(epoch uint32) (cipher.AEAD, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	a, ok := k.aeads[epoch]
	if !ok {
		return nil, fmt.Errorf("%w (epoch %d)", ErrUnknownEpoch, epoch)
	}
	return a, nil
}

// epochKey returns a copy of epoch's key (for deriving snapshot keys).
func (k *Keyring) epochKey(epoch uint32) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, e := range k.st.Epochs {
		if e.ID == epoch {
			return slices.Clone(e.Key), nil
		}
	}
	return nil, fmt.Errorf("%w (epoch %d)", ErrUnknownEpoch, epoch)
}
