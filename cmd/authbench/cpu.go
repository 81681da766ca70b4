package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procTimes reads /proc/<pid>/stat: its ppid, own CPU (utime+stime) and its
// reaped children's CPU (cutime+cstime), in clock ticks.
func procTimes(pid int) (ppid int, self, children int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	return parseStat(string(b))
}

// parseStat parses the text of /proc/<pid>/stat. The command name (field 2)
// is in parentheses and may contain spaces, so fields are counted after the
// last ')'.
func parseStat(s string) (ppid int, self, children int64, err error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("malformed stat %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("short stat %q", s)
	}
	num := func(k int) int64 {
		v, e := strconv.ParseInt(f[k-3], 10, 64)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	ppid = int(num(4))
	self = num(14) + num(15)
	children = num(16) + num(17)
	return ppid, self, children, err
}

// cpuProbe sums CPU time of the server process and of the PostgreSQL
// processes (each root, typically the postmaster, with its reaped children's
// time, plus its live children: backends, WAL writer, checkpointer...).
type cpuProbe struct {
	serverPID int
	pgRoots   []int
	db        *dbProbe // transactions (dbprobe.go); nil: not measured
}

type cpuSnap struct {
	at                  time.Time
	server, pg, loadgen int64 // clock ticks
	serverOK, pgOK      bool
	// xacts and writes: dbprobe.go.
	xacts, writes     int64
	xactsOK, writesOK bool
}

func (p cpuProbe) snapshot() cpuSnap {
	s := cpuSnap{at: time.Now()}
	s.xacts, s.xactsOK = p.db.xacts()
	s.writes, s.writesOK = procWrites(p.serverPID)
	if p.serverPID > 0 {
		if _, self, ch, err := procTimes(p.serverPID); err == nil {
			s.server, s.serverOK = self+ch, true
		}
	}
	if _, self, _, err := procTimes(os.Getpid()); err == nil {
		s.loadgen = self
	}
	if len(p.pgRoots) > 0 {
		roots := map[int]bool{}
		s.pgOK = true
		for _, r := range p.pgRoots {
			roots[r] = true
			_, self, ch, err := procTimes(r)
			if err != nil {
				s.pgOK = false
				continue
			}
			s.pg += self + ch
		}
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			pid, err := strconv.Atoi(filepath.Base(d))
			if err != nil || roots[pid] {
				continue
			}
			ppid, self, _, err := procTimes(pid)
			if err == nil && roots[ppid] {
				s.pg += self
			}
		}
	}
	return s
}

// cpuPerRequest turns two snapshots into CPU ms per request (-1 where a
// party was not measured).
func cpuPerRequest(a, b cpuSnap, requests int) CPU {
	c := CPU{ServerMsPerReq: -1, PostgresMsPerReq: -1, ClientMsPerReq: -1, ServerCores: -1, PostgresCores: -1, PGXactsPerReq: -1, ServerWritesPerReq: -1}
	if requests <= 0 {
		return c
	}
	wall := b.at.Sub(a.at).Seconds()
	perReq := func(ticks int64) float64 {
		return roundTo(float64(ticks)*1000/clockTicks/float64(requests), 3)
	}
	cores := func(ticks int64) float64 {
		if wall <= 0 {
			return -1
		}
		return roundTo(float64(ticks)/clockTicks/wall, 2)
	}
	if a.serverOK && b.serverOK {
		c.ServerMsPerReq, c.ServerCores = perReq(b.server-a.server), cores(b.server-a.server)
	}
	if a.pgOK && b.pgOK {
		c.PostgresMsPerReq, c.PostgresCores = perReq(b.pg-a.pg), cores(b.pg-a.pg)
	}
	c.ClientMsPerReq = perReq(b.loadgen - a.loadgen)
	if a.xactsOK && b.xactsOK {
		c.PGXactsPerReq = roundTo(float64(b.xacts-a.xacts)/float64(requests), 2)
	}
	if a.writesOK && b.writesOK {
		c.ServerWritesPerReq = roundTo(float64(b.writes-a.writes)/float64(requests), 2)
	}
	return c
}

func roundTo(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
