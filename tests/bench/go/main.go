// SPDX-License-Identifier: MIT
//
// Command weftbench-go runs bench_sync.c's benchmarks written in Go, the same
// work with the same sizes on GOMAXPROCS=2, and prints the same
// `name value unit` lines, so that `make bench-go` and build/bench/bench_sync
// can be run side by side (interleaved: these VMs drift; see ../README.md).
// Each figure is one run in a fresh process, as bench_sync's are. Arguments,
// if any, select benchmarks by name prefix. Standard library only: the
// semaphore is golang.org/x/sync/semaphore's algorithm, written out below.
package main

import (
	"container/list"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	fibers   = 8
	total    = 4_000_000
	semTotal = 1_000_000
	fanout   = 10_000
)

func main() {
	runtime.GOMAXPROCS(2) // bench_sync's weft_opts.procs
	benches := []struct {
		name string
		run  func() string
	}{
		{"mutex_contended_ns", mutexContended},
		{"rwmutex_read_ns", rwmutexRead},
		{"sem_contended_ns", semContended},
		{"ctx_cancel_fanout_us", ctxCancelFanout},
	}
	for _, b := range benches {
		if selected(b.name) {
			runtime.GC()
			fmt.Printf("%s %s\n", b.name, b.run())
		}
	}
}

func selected(name string) bool {
	if len(os.Args) < 2 {
		return true
	}
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(name, a) {
			return true
		}
	}
	return false
}

func mutexContended() string {
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	wg.Add(fibers)
	t0 := time.Now()
	for g := 0; g < fibers; g++ {
		go func() {
			for i := 0; i < total/fibers; i++ {
				mu.Lock()
				n++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	dt := time.Since(t0)
	if n != total {
		fmt.Fprintf(os.Stderr, "mutex: lost updates (%d)\n", n)
		os.Exit(1)
	}
	return fmt.Sprintf("%.1f ns", float64(dt.Nanoseconds())/total)
}

func rwmutexRead() string {
	var mu sync.RWMutex
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Add(fibers)
	t0 := time.Now()
	for g := 0; g < fibers; g++ {
		go func() {
			seen := int64(0)
			for i := 0; i < total/fibers; i++ {
				mu.RLock()
				seen += n.Load()
				mu.RUnlock()
			}
			if seen < 0 {
				panic("keeps the reads")
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return fmt.Sprintf("%.1f ns", float64(time.Since(t0).Nanoseconds())/total)
}

// weighted is golang.org/x/sync/semaphore.Weighted (FIFO waiters, a big
// request blocks smaller ones behind it), which weft_sem follows.
type weighted struct {
	size, cur int64
	mu        sync.Mutex
	waiters   list.List
}

type waiter struct {
	n     int64
	ready chan struct{}
}

func (s *weighted) acquire(ctx context.Context, n int64) error {
	s.mu.Lock()
	if s.size-s.cur >= n && s.waiters.Len() == 0 {
		s.cur += n
		s.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	elem := s.waiters.PushBack(waiter{n: n, ready: ready})
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		s.mu.Lock()
		select {
		case <-ready: // acquired after all
			s.mu.Unlock()
			return nil
		default:
			isFront := s.waiters.Front() == elem
			s.waiters.Remove(elem)
			if isFront && s.size > s.cur {
				s.notify()
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	case <-ready:
		return nil
	}
}

func (s *weighted) release(n int64) {
	s.mu.Lock()
	s.cur -= n
	if s.cur < 0 {
		panic("semaphore: released more than held")
	}
	s.notify()
	s.mu.Unlock()
}

func (s *weighted) notify() {
	for {
		next := s.waiters.Front()
		if next == nil {
			break
		}
		w := next.Value.(waiter)
		if s.size-s.cur < w.n {
			break
		}
		s.cur += w.n
		s.waiters.Remove(next)
		close(w.ready)
	}
}

func semContended() string {
	s := &weighted{size: 2}
	var in, maxIn atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	wg.Add(fibers)
	t0 := time.Now()
	for g := 0; g < fibers; g++ {
		go func() {
			for i := 0; i < semTotal/fibers; i++ {
				s.acquire(ctx, 1)
				v := in.Add(1)
				if v > maxIn.Load() {
					maxIn.Store(v)
				}
				in.Add(-1)
				s.release(1)
			}
			wg.Done()
		}()
	}
	wg.Wait()
	dt := time.Since(t0)
	if maxIn.Load() > 2 {
		fmt.Fprintf(os.Stderr, "sem: %d holders of a 2-unit semaphore\n", maxIn.Load())
		os.Exit(1)
	}
	return fmt.Sprintf("%.1f ns", float64(dt.Nanoseconds())/semTotal)
}

func ctxCancelFanout() string {
	ctx, cancel := context.WithCancel(context.Background())
	var ready, done sync.WaitGroup
	ready.Add(fanout)
	done.Add(fanout)
	for i := 0; i < fanout; i++ {
		go func() {
			ready.Done()
			<-ctx.Done()
			done.Done()
		}()
	}
	ready.Wait()
	time.Sleep(10 * time.Millisecond) // let them all park
	t0 := time.Now()
	cancel()
	done.Wait()
	return fmt.Sprintf("%.1f us", float64(time.Since(t0).Nanoseconds())/1e3)
}
