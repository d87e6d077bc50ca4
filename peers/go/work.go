// work: the suite's workloads with goroutines (GOMAXPROCS=1, the same
// one-core setting as corio). `work <workload> [n]` prints `RESULT v unit`.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	switches = 1000000
	spawns   = 100000
	trips    = 200000
	acquires = 200000
	semTasks = 100
)

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
	case "spawn", "spawn-cold":
		batch := func() time.Duration {
			t := time.Now()
			for i := 0; i < spawns; i++ {
				done := make(chan struct{})
				go func() { close(done) }()
				<-done
			}
			return time.Since(t)
		}
		if os.Args[1] == "spawn" {
			batch()
		}
		fmt.Printf("RESULT %.3f ns\n", per(spawns, batch()))
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
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", os.Args[1])
		os.Exit(2)
	}
}
