//go:build unix

package pgtest

import (
	"os/exec"
	"syscall"
)

// detach puts cmd in a session of its own, so that a signal to the test
// binary's process group does not end the watchdog before its work.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
