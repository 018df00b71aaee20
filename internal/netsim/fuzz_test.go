package netsim_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/netsim"
)

// FuzzDelayPreservesStream checks that bytes pass through both directions of
// a Delay wrapper intact and in order, however the writes are split and
// however small the reads are.
func FuzzDelayPreservesStream(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{1, 2, 3}, uint8(1))
	f.Add(bytes.Repeat([]byte("0123456789"), 10000), []byte{255, 7, 0, 200}, uint8(0))
	f.Add([]byte{}, []byte{}, uint8(5))
	f.Fuzz(func(t *testing.T, data, splits []byte, readSize uint8) {
		a, b := net.Pipe()
		c := netsim.Delay(a, time.Millisecond)
		rbuf := make([]byte, int(readSize)+1)

		// pieces splits data by the fuzzer's sizes (scaled so that big
		// inputs are exercised with a few writes).
		pieces := func() [][]byte {
			var out [][]byte
			rest := data
			for i := 0; len(rest) > 0; i++ {
				n := len(rest)
				if len(splits) > 0 {
					n = min(len(rest), 1+int(splits[i%len(splits)])*64)
				}
				out = append(out, rest[:n])
				rest = rest[n:]
			}
			return out
		}

		// Out: c writes, b reads everything until c closes.
		got := make(chan []byte, 1)
		go func() {
			var buf bytes.Buffer
			_, _ = io.Copy(&buf, b) // ends at EOF once c closes a
			got <- buf.Bytes()
		}()
		for _, p := range pieces() {
			if _, err := c.Write(p); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		select {
		case out := <-got:
			if !bytes.Equal(out, data) {
				t.Fatalf("written stream: got %d bytes, want %d identical bytes", len(out), len(data))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("peer did not see the stream end within 5s")
		}

		// In: b writes in pieces and closes; c reads with small buffers.
		a2, b2 := net.Pipe()
		c2 := netsim.Delay(a2, time.Millisecond)
		defer c2.Close()
		go func() {
			for _, p := range pieces() {
				if _, err := b2.Write(p); err != nil {
					return
				}
			}
			_ = b2.Close()
		}()
		if err := c2.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		var in bytes.Buffer
		for {
			n, err := c2.Read(rbuf)
			in.Write(rbuf[:n])
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read after %d bytes: %v", in.Len(), err)
			}
		}
		if !bytes.Equal(in.Bytes(), data) {
			t.Fatalf("read stream: got %d bytes, want %d identical bytes", in.Len(), len(data))
		}
	})
}
