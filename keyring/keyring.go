// Package keyring owns the remailer key files of Mixmaster Type II
// (protocol 2, byte-compatible with Mixmaster 3.0.2d):
//
//   - public keys: key.txt and pubring.mix entries (attribute line plus
//     "Mix Key" block), the type2.list summary, key IDs, and the client's
//     choice of one key per remailer;
//   - secret keys: secring.mix entries (3DES-encrypted under MD5 of the
//     passphrase), key generation, and the remailer's choice of usable keys.
//
// Parsers read untrusted bytes: they never panic, do work linear in the
// input, keep every good entry and report each bad one with its entry number
// and line. Nothing here does I/O or reads the clock; callers pass the time.
// Section numbers (§) refer to docs/spec/mixmaster-type2.md.
package keyring

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors wrapped by the parsers and lookups; test with errors.Is.
var (
	// ErrPassphrase means a secret key decrypted to something whose key ID
	// does not match: the passphrase is wrong (or the entry is damaged).
	ErrPassphrase = errors.New("keyring: wrong passphrase")
	// ErrStrayText means a key file holds text outside any entry (as a
	// key.txt quoted in a mail does); the entries around it are still read.
	ErrStrayText = errors.New("keyring: text outside any key entry")
	// ErrSyntax means an entry does not follow the file format.
	ErrSyntax = errors.New("keyring: syntax error")
	// ErrKeyID means a key ID written in a file is not the MD5 of the key.
	ErrKeyID = errors.New("keyring: key ID does not match the key")
	// ErrKeySize means an RSA key is not 1024, 2048, 3072 or 4096 bits.
	ErrKeySize = errors.New("keyring: unsupported RSA key size")
	// ErrInvalidKey means an RSA private key is internally inconsistent.
	ErrInvalidKey = errors.New("keyring: invalid RSA private key")
	// ErrUnknownRemailer means no key lists the requested name or address.
	ErrUnknownRemailer = errors.New("keyring: unknown remailer")
	// ErrNoValidKey means the remailer is listed but none of its keys is
	// valid at the requested time.
	ErrNoValidKey = errors.New("keyring: no valid key for remailer")
)

// locatedError says where in a file an error was found. Its message names
// the package once, however many sentinels it wraps.
type locatedError struct {
	where string
	err   error
}

func (e *locatedError) Error() string {
	return "keyring: " + e.where + ": " + strings.ReplaceAll(e.err.Error(), "keyring: ", "")
}

func (e *locatedError) Unwrap() error { return e.err }

// located wraps err with a place, formatted like fmt.Sprintf.
func located(err error, format string, args ...any) error {
	return &locatedError{where: fmt.Sprintf(format, args...), err: err}
}

// Markers around a key block, in key.txt, pubring.mix and secring.mix.
const (
	beginMarker = "-----Begin Mix Key-----"
	endMarker   = "-----End Mix Key-----"
)

// b64LineLen is the width of base64 lines Mixmaster writes (§1).
const b64LineLen = 40

// dateLayout is how key files write dates (§14.1); they mean 00:00 UTC.
const dateLayout = "2006-01-02"

// supportedBits reports whether 3.0.2d can use an RSA modulus of this size.
func supportedBits(bits int) bool {
	switch bits {
	case 1024, 2048, 3072, 4096:
		return true
	}
	return false
}

// splitLines cuts a file into lines, accepting LF and CRLF endings.
func splitLines(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	// A final newline does not start another line.
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	return lines
}

// parseDate reads a YYYY-MM-DD date as 00:00 UTC.
func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// formatDate writes t's UTC calendar day.
func formatDate(t time.Time) string {
	return t.UTC().Format(dateLayout)
}

// day truncates t to 00:00 UTC of its UTC calendar day.
func day(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// appendBase64Lines appends b in standard base64, 40 characters a line,
// each line ended by a newline, as Mixmaster writes key blocks.
func appendBase64Lines(dst []byte, b []byte) []byte {
	s := base64.StdEncoding.EncodeToString(b)
	for len(s) > b64LineLen {
		dst = append(dst, s[:b64LineLen]...)
		dst = append(dst, '\n')
		s = s[b64LineLen:]
	}
	if s != "" {
		dst = append(dst, s...)
		dst = append(dst, '\n')
	}
	return dst
}

// block is the text between a begin and an end marker.
type block struct {
	line  int      // 1-based line number of the begin marker
	lines []string // trimmed lines between the markers
	err   error    // set when the end marker is missing
}

// maxBlockLines bounds one block; the largest real block (a 4096-bit
// secret key) has about 80 lines.
const maxBlockLines = 200

// scanned is one key block found by scanBlocks.
type scanned struct {
	blk      block
	attr     string // "" when no line precedes the block
	attrLine int
}

// strayRange is a run of lines (1-based, inclusive) outside any entry.
type strayRange struct{ first, last int }

// scanBlocks walks the lines of a key file. It returns the key blocks and,
// when withAttr is set, for each block the last non-empty line before it that
// is not part of another block (the attribute line of a pubring entry). Other
// text outside
// blocks is reported as one "stray" range per run, so errors stay bounded by
// the number of blocks. A block that runs into an empty line, a begin marker
// or the end of input before its end marker is returned with err set and
// scanning resumes at that line, so the next entry is still found.
func scanBlocks(lines []string, withAttr bool) (entries []scanned, stray []strayRange) {
	// Text lines seen since the last block: the first, the one before the
	// last, and the last (0-based; -1 when absent).
	first, prev, last := -1, -1, -1
	flushStray := func(keepLast bool) {
		end := last
		if keepLast {
			end = prev
		}
		if end >= 0 {
			stray = append(stray, strayRange{first + 1, end + 1})
		}
		first, prev, last = -1, -1, -1
	}
	i := 0
	for i < len(lines) {
		l := strings.TrimSpace(lines[i])
		switch {
		case l == "":
			i++
		case l == beginMarker:
			e := scanned{blk: block{line: i + 1}}
			if withAttr && last >= 0 {
				e.attr = strings.TrimSpace(lines[last])
				e.attrLine = last + 1
			}
			flushStray(withAttr)
			i++
			for {
				if i >= len(lines) {
					e.blk.err = errors.New("end of input before the end marker")
					break
				}
				bl := strings.TrimSpace(lines[i])
				if bl == endMarker {
					i++
					break
				}
				if bl == "" || bl == beginMarker {
					e.blk.err = errors.New("end marker missing")
					break
				}
				if len(e.blk.lines) >= maxBlockLines {
					e.blk.err = errors.New("key block too long")
					// Skip the rest of this block without storing it.
					for i < len(lines) {
						bl = strings.TrimSpace(lines[i])
						if bl == "" || bl == beginMarker {
							break
						}
						i++
						if bl == endMarker {
							break
						}
					}
					break
				}
				e.blk.lines = append(e.blk.lines, bl)
				i++
			}
			entries = append(entries, e)
		default:
			if first < 0 {
				first = i
			}
			prev, last = last, i
			i++
		}
	}
	flushStray(false)
	return entries, stray
}
