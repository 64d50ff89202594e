// Package edgebench runs the edge's benchmark scenarios against real
// processes on loopback: a `ucv edge` subprocess and, for comparison, a
// redis-server driven by the same load generator (bench/load).
package edgebench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var addrRE = regexp.MustCompile(`"addr":"(127\.0\.0\.1:\d+)"`)

// Proc is a running server subprocess.
type Proc struct {
	Cmd    *exec.Cmd
	Addr   string // host:port
	exited chan struct{}
}

// StartEdge starts `bin edge --data-dir dataDir --http-addr 127.0.0.1:0
// args…` and waits (up to 30 s) for it to log the address it listens on.
func StartEdge(bin, dataDir string, args ...string) (*Proc, error) {
	cmd := exec.Command(bin, append([]string{"edge", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0"}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("edgebench: start edge: %w", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, pr)
	}()
	p := &Proc{Cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); pw.Close(); close(p.exited) }()
	select {
	case p.Addr = <-found:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("edgebench: edge exited before listening")
	case <-time.After(30 * time.Second):
		p.Kill()
		return nil, fmt.Errorf("edgebench: edge did not log its address within 30 s")
	}
}

// StartRedis starts redis-server on a free loopback port without
// persistence and waits until it accepts connections.
func StartRedis() (*Proc, error) { return StartRedisArgs("--appendonly", "no") }

// StartRedisArgs starts redis-server on a free loopback port with no RDB
// snapshots and the given extra settings (e.g. "--appendonly", "yes"),
// and waits until it accepts connections.
func StartRedisArgs(extra ...string) (*Proc, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("edgebench: redis-server not installed (apt-get install redis-server): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(path, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--protected-mode", "no"}, extra...)...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("edgebench: start redis: %w", err)
	}
	p := &Proc{Cmd: cmd, Addr: fmt.Sprintf("127.0.0.1:%d", port), exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	for range 100 {
		if c, err := net.Dial("tcp", p.Addr); err == nil {
			c.Close()
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Kill()
	return nil, fmt.Errorf("edgebench: redis did not listen on %s", p.Addr)
}

// Kill sends SIGKILL and waits for the process to be reaped.
func (p *Proc) Kill() {
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits up to 30 s, then kills.
func (p *Proc) Stop() {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.Kill()
	}
}

// RSSBytes returns the process's resident set size.
func (p *Proc) RSSBytes() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// CPU returns the CPU time, user and system, that p's threads have used
// so far (/proc/PID/stat's utime and stime, in clock ticks); ok is false
// when it cannot be read.
func (p *Proc) CPU() (d time.Duration, ok bool) {
	return ProcessCPU(p.Cmd.Process.Pid)
}

// ProcessCPU is Proc.CPU for any process (Linux).
func ProcessCPU(pid int) (d time.Duration, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	return statCPU(string(b), clockTicks())
}

// statCPU reads utime and stime (fields 14 and 15) from a /proc/PID/stat
// line, counting fields after the command name, which is in parentheses
// and may itself hold spaces and parentheses. ok is false if the line
// does not hold them.
func statCPU(stat string, ticksPerSecond int64) (d time.Duration, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || ticksPerSecond <= 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / time.Duration(ticksPerSecond), true
}

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times, from
// getconf(1); 100, Linux's value on every common architecture, if it
// cannot be run.
var clockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return 100
	}
	return n
})

// pin moves every thread of p to CPU 0 and every thread of this process
// (the load generator) to CPU 1, with taskset(1) from util-linux.
func pin(p *Proc) error {
	for _, a := range []struct {
		cpu string
		pid int
	}{{"0", p.Cmd.Process.Pid}, {"1", os.Getpid()}} {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", a.cpu, strconv.Itoa(a.pid)).CombinedOutput(); err != nil {
			return fmt.Errorf("edgebench: pin pid %d to CPU %s: %w: %s", a.pid, a.cpu, err, out)
		}
	}
	return nil
}

// unpinSelf lets this process run on every CPU again.
func unpinSelf() {
	exec.Command("taskset", "-a", "-p", "-c", "0-"+strconv.Itoa(runtime.NumCPU()-1), strconv.Itoa(os.Getpid())).Run()
}

// Syscalls counts a process's system calls over a measured phase: read
// and write calls from /proc/PID/io (syscr, syscw; every thread), and,
// when perf(1) can attach, every system call (raw_syscalls:sys_enter).
type Syscalls struct {
	Reads, Writes uint64
	All           uint64 // 0: perf not available
}

// PerRequest divides each count by n requests.
func (s Syscalls) PerRequest(n int) (reads, writes, all float64) {
	if n <= 0 {
		return 0, 0, 0
	}
	return float64(s.Reads) / float64(n), float64(s.Writes) / float64(n), float64(s.All) / float64(n)
}

// CountSyscalls starts counting p's system calls; the returned function
// stops and returns the counts.
func (p *Proc) CountSyscalls() func() Syscalls {
	pid := p.Cmd.Process.Pid
	r0, w0 := procIO(pid)
	var out strings.Builder
	perf := exec.Command("perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", strconv.Itoa(pid))
	perf.Stderr = &out
	started := perf.Start() == nil
	return func() Syscalls {
		r1, w1 := procIO(pid)
		s := Syscalls{Reads: r1 - r0, Writes: w1 - w0}
		if started {
			perf.Process.Signal(syscall.SIGINT)
			perf.Wait()
			for _, line := range strings.Split(out.String(), "\n") {
				if f := strings.Split(line, ","); len(f) > 2 && strings.Contains(line, "raw_syscalls:sys_enter") {
					s.All, _ = strconv.ParseUint(f[0], 10, 64)
				}
			}
		}
		return s
	}
}

// procIO returns the read and write system calls pid has made.
func procIO(pid int) (reads, writes uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "syscr:":
			reads = v
		case "syscw:":
			writes = v
		}
	}
	return reads, writes
}
