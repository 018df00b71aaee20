package loglimit

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLog: one line per key per second, the rest counted and reported on
// the next line that gets through; other keys are not held back.
func TestLog(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), func() time.Time { return now })
	for range 5 {
		l.Log("a", "region failed", "region", "a")
	}
	l.Log("b", "region failed", "region", "b")
	now = now.Add(time.Second)
	l.Log("a", "region failed", "region", "a")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3 (a, b, a again after a second):\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "suppressed=4") || strings.Contains(lines[0], "suppressed") {
		t.Errorf("suppressed counts: got\n%s\nwant the last line to count the 4 held back", buf.String())
	}
}
