package localfed

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Front is a TCP front for several replicas of a server on 127.0.0.1, as a
// Service with several endpoints is: each connection goes to the next backend
// in turn, and a backend that refuses the connection (stopped, killed) is
// skipped, as a Service routes around a pod that is not ready. TLS passes
// through, so every backend serves a certificate for the same name.
type Front struct {
	Port     int
	listener net.Listener

	mu       sync.Mutex
	backends []int
	next     int
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// StartFront listens on a free port of 127.0.0.1.
func StartFront() (*Front, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &Front{Port: l.Addr().(*net.TCPAddr).Port, listener: l, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// Add makes a backend (a port of 127.0.0.1) receive connections.
func (f *Front) Add(port int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.backends {
		if b == port {
			return
		}
	}
	f.backends = append(f.backends, port)
}

// Remove stops sending new connections to a backend.
func (f *Front) Remove(port int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, b := range f.backends {
		if b == port {
			f.backends = append(f.backends[:i], f.backends[i+1:]...)
			return
		}
	}
}

// Close stops listening and closes every open connection.
func (f *Front) Close() error {
	err := f.listener.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
	return err
}

func (f *Front) serve() {
	defer f.wg.Done()
	for {
		c, err := f.listener.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.proxy(c)
		}()
	}
}

// order returns the backends starting with the next one in turn.
func (f *Front) order() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.backends)
	out := make([]int, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, f.backends[(f.next+i)%n])
	}
	if n > 0 {
		f.next = (f.next + 1) % n
	}
	return out
}

func (f *Front) track(c net.Conn, open bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	if !open {
		delete(f.conns, c)
		return true
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Front) proxy(client net.Conn) {
	defer client.Close()
	var backend net.Conn
	for _, port := range f.order() {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*time.Second)
		if err == nil {
			backend = c
			break
		}
	}
	if backend == nil {
		return
	}
	defer backend.Close()
	if !f.track(client, true) || !f.track(backend, true) {
		return
	}
	defer f.track(client, false)
	defer f.track(backend, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok && (err == nil || errors.Is(err, net.ErrClosed)) {
			_ = tc.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(backend, client)
	go pipe(client, backend)
	<-done
	<-done
}
