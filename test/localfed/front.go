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
//
// Cut partitions the front from its clients, as a network that drops every
// packet does: nothing passes in either direction on open connections, and
// new connections are accepted but reach no backend, until Heal.
type Front struct {
	Port     int
	listener net.Listener
	closed   chan struct{}

	mu       sync.Mutex
	backends []int
	next     int
	conns    map[net.Conn]struct{}
	// open is closed while traffic passes; Cut replaces it.
	open chan struct{}
	wg   sync.WaitGroup
}

// StartFront listens on a free port of 127.0.0.1.
func StartFront() (*Front, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	open := make(chan struct{})
	close(open)
	f := &Front{Port: l.Addr().(*net.TCPAddr).Port, listener: l, closed: make(chan struct{}), conns: map[net.Conn]struct{}{}, open: open}
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

// Cut stops all traffic through the front until Heal.
func (f *Front) Cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.open:
		f.open = make(chan struct{})
	default: // already cut
	}
}

// Heal lets traffic pass again: what was held on open connections is
// delivered, as TCP retransmits it once a partition heals.
func (f *Front) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.open:
	default:
		close(f.open)
	}
}

// pass waits while the front is cut; false once it is closed.
func (f *Front) pass() bool {
	f.mu.Lock()
	open := f.open
	f.mu.Unlock()
	select {
	case <-open:
		return true
	case <-f.closed:
		return false
	}
}

// Close stops listening and closes every open connection.
func (f *Front) Close() error {
	err := f.listener.Close()
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
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
	if !f.track(client, true) {
		return
	}
	defer f.track(client, false)
	if !f.pass() {
		return
	}
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
	if !f.track(backend, true) {
		return
	}
	defer f.track(backend, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		err := f.copy(dst, src)
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

// copy copies src to dst until src ends (nil) or fails, holding data while
// the front is cut.
func (f *Front) copy(dst, src net.Conn) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !f.pass() {
				return net.ErrClosed
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
