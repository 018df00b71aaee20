package main

import "testing"

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("1k, 64K,1m,100")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path string
		size int
	}{{"/1k.bin", 1024}, {"/64k.bin", 65536}, {"/1m.bin", 1 << 20}, {"/100.bin", 100}}
	if len(got) != len(want) {
		t.Fatalf("got %d files, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].path != w.path || got[i].size != w.size {
			t.Errorf("file %d: got %s %d, want %s %d", i, got[i].path, got[i].size, w.path, w.size)
		}
	}
	for _, bad := range []string{"", "k", "1g", "-1k", "0"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q): got no error", bad)
		}
	}
}
