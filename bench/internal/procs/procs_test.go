package procs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"0-1", []int{0, 1}},
		{"0,2-3", []int{0, 2, 3}},
		{"3-1", nil},
		{"x", nil},
	} {
		if got := ParseCPUList(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestMain lets the test binary be its own child: with PROCS_TEST_CHILD
// set it prints two addresses and a chatty line, then echoes its stdin.
func TestMain(m *testing.M) {
	if os.Getenv("PROCS_TEST_CHILD") != "" {
		fmt.Println("ADDR 127.0.0.1:1")
		fmt.Println("starting, a line the parent ignores")
		fmt.Println("ADDR 127.0.0.1:2")
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println("echo " + sc.Text())
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestChildLines(t *testing.T) {
	ctx := context.Background()
	env := []string{"PROCS_TEST_CHILD=1"}

	c, err := StartChild(ctx, 2, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Addrs, []string{"127.0.0.1:1", "127.0.0.1:2"}) {
		t.Errorf("addresses %q", c.Addrs)
	}
	c.Stop()
	if st := c.Cmd.ProcessState; !st.Success() {
		t.Errorf("stopped child: %s, want a clean exit", st)
	}

	c, err = Spawn(ctx, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the two ADDR lines and the chatty one
		if _, err := c.Next(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Send("START 1"); err != nil {
		t.Fatal(err)
	}
	if line, err := c.Next(ctx, 10*time.Second); err != nil || line != "echo START 1" {
		t.Fatalf("got %q, %v; want the child's echo", line, err)
	}
	if _, err := c.Next(ctx, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no word within") {
		t.Errorf("a silent child: %v, want a timeout", err)
	}
	c.Stop()
	if st := c.Cmd.ProcessState; !st.Success() {
		t.Errorf("stopped child: %s, want a clean exit", st)
	}
	if _, err := c.Next(ctx, time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("after stop: %v, want exited", err)
	}
}
