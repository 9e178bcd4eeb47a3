package hf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// scanPickle walks one pickle (up to and including STOP) from r without
// building anything, checking that every length-prefixed argument fits in
// the remaining bytes (limit). gopickle allocates a buffer of the claimed
// length before reading, so a corrupt length could otherwise ask for
// gigabytes (a fatal out-of-memory, which recover cannot catch). It returns
// the number of bytes the pickle occupies.
func scanPickle(r *bufio.Reader, limit int64) (int64, error) {
	var pos int64
	need := func(n int64) error {
		if n < 0 || n > limit-pos {
			return fmt.Errorf("pickle argument of %d bytes at byte %d runs past the end of the data (truncated or corrupt)", n, pos)
		}
		return nil
	}
	skip := func(n int64) error {
		if err := need(n); err != nil {
			return err
		}
		for n > 0 {
			k := int(min(n, 1<<30))
			d, err := r.Discard(k)
			pos += int64(d)
			if err != nil {
				return fmt.Errorf("pickle: %w (truncated?)", err)
			}
			n -= int64(k)
		}
		return nil
	}
	length := func(size int) (int64, error) {
		if err := need(int64(size)); err != nil {
			return 0, err
		}
		var b [8]byte
		if _, err := io.ReadFull(r, b[:size]); err != nil {
			return 0, fmt.Errorf("pickle: %w (truncated?)", err)
		}
		pos += int64(size)
		n := binary.LittleEndian.Uint64(b[:])
		if n > uint64(limit) {
			return 0, fmt.Errorf("pickle argument of %d bytes at byte %d runs past the end of the data (truncated or corrupt)", n, pos)
		}
		return int64(n), nil
	}
	line := func() error {
		for {
			if pos >= limit {
				return fmt.Errorf("pickle: unterminated line (truncated?)")
			}
			b, err := r.ReadByte()
			if err != nil {
				return fmt.Errorf("pickle: %w (truncated?)", err)
			}
			pos++
			if b == '\n' {
				return nil
			}
		}
	}
	for {
		if pos >= limit {
			return pos, fmt.Errorf("pickle: no STOP opcode (truncated?)")
		}
		op, err := r.ReadByte()
		if err != nil {
			return pos, fmt.Errorf("pickle: %w (truncated?)", err)
		}
		pos++
		switch op {
		case '.': // STOP
			return pos, nil
		case 0x80, 'K', 'h', 'q', 0x82: // PROTO, BININT1, BINGET, BINPUT, EXT1
			err = skip(1)
		case 'M', 0x83: // BININT2, EXT2
			err = skip(2)
		case 'J', 'j', 'r', 0x84: // BININT, LONG_BINGET, LONG_BINPUT, EXT4
			err = skip(4)
		case 'G', 0x95: // BINFLOAT; FRAME (its contents are opcodes, scanned inline)
			err = skip(8)
		case 0x8a, 'U', 'C', 0x8c: // LONG1, SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			var n int64
			if n, err = length(1); err == nil {
				err = skip(n)
			}
		case 0x8b, 'T', 'B', 'X': // LONG4, BINSTRING, BINBYTES, BINUNICODE
			var n int64
			if n, err = length(4); err == nil {
				err = skip(n)
			}
		case 0x8e, 0x8d, 0x96: // BINBYTES8, BINUNICODE8, BYTEARRAY8
			var n int64
			if n, err = length(8); err == nil {
				err = skip(n)
			}
		case 'I', 'L', 'F', 'S', 'V', 'g', 'p', 'P': // one-line arguments
			err = line()
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if err = line(); err == nil {
				err = line()
			}
		case '(', '0', '1', '2', 'N', 0x88, 0x89, 't', 0x85, 0x86, 0x87, ')', ']', '}',
			0x8f, 0x91, 'l', 'd', 'a', 'e', 's', 'u', 0x90, 'b', 'R', 0x81, 0x92, 0x93,
			0x94, 'o', 'Q', 0x97, 0x98:
			// no argument
		default:
			return pos, fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, pos-1)
		}
		if err != nil {
			return pos, err
		}
	}
}
