package pool

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// A Sealer encrypts records at rest. Seal must be randomised (the same
// plaintext sealed twice gives unrelated output) so that records of
// different stages cannot be matched; Open must authenticate.
// Implementations must be safe for concurrent use.
type Sealer interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// aesGCMSealer seals with AES-256-GCM and a random 96-bit nonce that is
// prepended to the output (28 bytes overhead).
type aesGCMSealer struct{ aead cipher.AEAD }

// NewAESGCMSealer returns a Sealer using AES-256-GCM with random nonces.
// One key must not seal more than 2^32 records (random-nonce limit); the
// pool seals each message about three times.
func NewAESGCMSealer(key [32]byte) (Sealer, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("pool: aes: %w", err)
	}
	// NewGCMWithRandomNonce draws the nonce itself, also in FIPS mode.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("pool: gcm: %w", err)
	}
	return aesGCMSealer{aead}, nil
}

func (s aesGCMSealer) Seal(plain []byte) ([]byte, error) {
	return s.aead.Seal(make([]byte, 0, len(plain)+s.aead.Overhead()), nil, plain, nil), nil
}

func (s aesGCMSealer) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < s.aead.Overhead() {
		return nil, errors.New("pool: sealed record too short")
	}
	plain, err := s.aead.Open(nil, nil, sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("pool: open sealed record: %w", err)
	}
	return plain, nil
}
