package main

import (
	"io"
	"os"
	"syscall"
)

// guardGroup is the -role guard child: when its stdin closes (the driver
// stopped or died, even by SIGKILL) it kills process group pgid, so that
// nginx's workers, which outlive a killed master, never outlive the
// benchmark.
func guardGroup(pgid int) error {
	_, _ = io.Copy(io.Discard, os.Stdin)
	if pgid > 1 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return nil
}
