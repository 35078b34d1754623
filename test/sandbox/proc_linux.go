package sandbox

import "syscall"

// childAttr puts a child in its own process group and has the kernel send
// it SIGTERM if the sandbox's process dies without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
