// work: the suite's workloads with goroutines (GOMAXPROCS=1, the same
// one-core setting as corio). `work <workload> [n]` prints `RESULT v unit`;
// `work echo-server|http-server 127.0.0.1:PORT` serves until killed. The
// same work as peers/src/bin/work.rs (see its header).
package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	switches  = 1000000
	spawns    = 100000
	trips     = 200000
	acquires  = 200000
	semTasks  = 100
	selects   = 500000
	coldTasks = 10000
	fileTasks = 64
	fileSize  = 4096
	connBuf   = 4096
	response  = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!"
)

// serve answers one connection: echo, or a response per request head.
func serve(c net.Conn, http bool) {
	defer c.Close()
	buf := make([]byte, connBuf)
	n := 0
	var out []byte
	for n < len(buf) {
		r, err := c.Read(buf[n:])
		if err != nil || r == 0 {
			return
		}
		if !http {
			if _, err := c.Write(buf[:r]); err != nil {
				return
			}
			continue
		}
		n += r
		start, heads := 0, 0
		for {
			p := bytes.Index(buf[start:n], []byte("\r\n\r\n"))
			if p < 0 {
				break
			}
			start += p + 4
			heads++
		}
		copy(buf, buf[start:n])
		n -= start
		if heads > 0 {
			out = out[:0]
			for i := 0; i < heads; i++ {
				out = append(out, response...)
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}

func server(http bool, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot listen:", err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			continue
		}
		go serve(c, http)
	}
}

// status reads one kB field of /proc/self/status.
func status(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v * 1024
		}
	}
	return 0
}

func per(n int, d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: work <workload> [n]")
		os.Exit(2)
	}
	if os.Args[1] == "echo-server" || os.Args[1] == "http-server" {
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "a server needs an address, like 127.0.0.1:7400")
			os.Exit(2)
		}
		server(os.Args[1] == "http-server", os.Args[2])
		return
	}
	n := 100000
	if len(os.Args) > 2 {
		v, err := strconv.Atoi(os.Args[2])
		if err != nil || v <= 0 {
			fmt.Fprintln(os.Stderr, "n must be a positive whole number")
			os.Exit(2)
		}
		n = v
	}
	switch os.Args[1] {
	case "cede":
		done := make(chan bool)
		go func() {
			for i := 0; i < switches/2; i++ {
				runtime.Gosched()
			}
			done <- true
		}()
		t := time.Now()
		for i := 0; i < switches/2; i++ {
			runtime.Gosched()
		}
		e := time.Since(t)
		<-done
		fmt.Printf("RESULT %.3f ns\n", per(switches, e))
	case "spawn":
		batch := func() time.Duration {
			t := time.Now()
			for i := 0; i < spawns; i++ {
				done := make(chan struct{})
				go func() { close(done) }()
				<-done
			}
			return time.Since(t)
		}
		batch()
		fmt.Printf("RESULT %.3f ns\n", per(spawns, batch()))
	case "spawn-cold":
		var wg sync.WaitGroup
		t := time.Now()
		for k := 0; k < coldTasks; k++ {
			wg.Add(1)
			go func() {
				runtime.Gosched()
				wg.Done()
			}()
		}
		wg.Wait()
		fmt.Printf("RESULT %.3f ns\n", per(coldTasks, time.Since(t)))
	case "fileread":
		dir := os.Getenv("SUITE_FILES")
		if dir == "" {
			dir = "target/suite-files"
		}
		files := make([]string, n)
		for i := range files {
			files[i] = filepath.Join(dir, fmt.Sprintf("f%06d", i))
		}
		pass := func() (int64, time.Duration) {
			var next, total int64
			var wg sync.WaitGroup
			t := time.Now()
			for k := 0; k < fileTasks; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := atomic.AddInt64(&next, 1) - 1
						if i >= int64(len(files)) {
							return
						}
						b, err := os.ReadFile(files[i])
						if err != nil {
							fmt.Fprintln(os.Stderr, err)
							os.Exit(1)
						}
						atomic.AddInt64(&total, int64(len(b)))
					}
				}()
			}
			wg.Wait()
			return total, time.Since(t)
		}
		pass()
		total, e := pass()
		if total != int64(n*fileSize) {
			fmt.Fprintln(os.Stderr, "read", total, "bytes, expected", n*fileSize)
			os.Exit(1)
		}
		fmt.Printf("RESULT %.3f us\n", float64(e.Nanoseconds())/float64(n)/1e3)
	case "pingpong":
		a, b := make(chan int, 1), make(chan int, 1)
		go func() {
			for v := range a {
				b <- v
			}
		}()
		t := time.Now()
		for i := 0; i < trips; i++ {
			a <- i
			<-b
		}
		e := time.Since(t)
		close(a)
		fmt.Printf("RESULT %.3f ns\n", per(trips, e))
	case "select":
		a, b := make(chan uint64, 1), make(chan uint64, 1)
		a <- 0
		b <- 0
		batch := func() time.Duration {
			t := time.Now()
			for i := uint64(0); i < selects; i++ {
				select {
				case v := <-a:
					a <- v ^ i
				case v := <-b:
					b <- v ^ i
				}
			}
			return time.Since(t)
		}
		batch()
		fmt.Printf("RESULT %.3f ns\n", per(selects, batch()))
	case "semaphore":
		sem := make(chan struct{}, 1)
		var wg sync.WaitGroup
		t := time.Now()
		for k := 0; k < semTasks; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < acquires/semTasks; i++ {
					sem <- struct{}{}
					runtime.Gosched()
					<-sem
				}
			}()
		}
		wg.Wait()
		fmt.Printf("RESULT %.3f ns\n", per(acquires, time.Since(t)))
	case "timers":
		var wg sync.WaitGroup
		t := time.Now()
		for k := 0; k < n; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(10 * time.Millisecond)
			}()
		}
		wg.Wait()
		fmt.Printf("RESULT %.3f ms\n", float64(time.Since(t).Microseconds())/1000)
	case "memory":
		before := rss()
		block := make(chan struct{})
		for k := 0; k < n; k++ {
			go func() { <-block }()
		}
		time.Sleep(200 * time.Millisecond)
		fmt.Printf("RESULT %.3f B\n", float64(rss()-before)/float64(n))
		close(block)
	case "park":
		var wg sync.WaitGroup
		t := time.Now()
		block := make(chan struct{})
		var started int64
		for k := 0; k < n; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				atomic.AddInt64(&started, 1)
				<-block
			}()
		}
		for atomic.LoadInt64(&started) < int64(n) {
			runtime.Gosched() // let the goroutines run and park
		}
		fmt.Fprintf(os.Stderr, "PARKED rss_kib=%d pte_kib=%d\n", status("VmRSS:"), status("VmPTE:"))
		close(block)
		wg.Wait()
		fmt.Printf("RESULT %.3f ms\n", float64(time.Since(t).Microseconds())/1000)
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", os.Args[1])
		os.Exit(2)
	}
}
