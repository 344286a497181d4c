package localfed_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/portico-dev/portico/test/localfed"
)

// echo serves lines back on a free port of 127.0.0.1 until the test ends.
func echo(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// TestFrontCut: a cut front passes nothing on open or new connections, and
// delivers what it held once healed.
func TestFrontCut(t *testing.T) {
	f, err := localfed.StartFront()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Add(echo(t))
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.Port)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, bufio.NewReader(c)
	}
	send := func(c net.Conn, r *bufio.Reader, line string, wait time.Duration) (string, error) {
		if _, err := c.Write([]byte(line + "\n")); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		got, err := r.ReadString('\n')
		return got, err
	}
	before, beforeR := dial()
	if got, err := send(before, beforeR, "one", 5*time.Second); err != nil || got != "one\n" {
		t.Fatalf("before the cut: %q, %v", got, err)
	}

	f.Cut()
	if got, err := send(before, beforeR, "two", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("an open connection through a cut front answered: %q, %v", got, err)
	}
	during, duringR := dial()
	if got, err := send(during, duringR, "three", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a new connection through a cut front answered: %q, %v", got, err)
	}

	f.Heal()
	for _, tc := range []struct {
		c    net.Conn
		r    *bufio.Reader
		want string
	}{{before, beforeR, "two\n"}, {during, duringR, "three\n"}} {
		_ = tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := tc.r.ReadString('\n'); err != nil || got != tc.want {
			t.Errorf("after healing: %q, %v; want %q (what the cut held)", got, err, tc.want)
		}
	}
	if got, err := send(before, beforeR, "four", 5*time.Second); err != nil || got != "four\n" {
		t.Errorf("after healing: %q, %v", got, err)
	}
}
