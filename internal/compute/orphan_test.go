package compute

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestInstancesDieWithTheNode re-executes the test binary as a node
// running a supervisor, kills that node with SIGKILL and checks that its
// instances do not outlive it.
func TestInstancesDieWithTheNode(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleEnv+"=supervisor", "TEST_PORTS=21700-21799", "TEST_LOG_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	pidsc := make(chan []int, 1)
	go func() {
		var pids []int
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			_ = json.Unmarshal(sc.Bytes(), &pids)
		}
		pidsc <- pids
	}()
	var pids []int
	select {
	case pids = <-pidsc:
	case <-time.After(8 * time.Second):
		t.Fatal("the child node did not report 2 healthy instances within 8s")
	}
	if len(pids) != 2 {
		t.Fatalf("child node reported pids %v, want 2", pids)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("instance %d not running before the node is killed", pid)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("instance pid %d outlived its node by 5s", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
