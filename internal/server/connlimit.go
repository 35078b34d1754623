package server

import (
	"net"
	"sync"
)

// Defaults of the connection limits. The API server multiplexes its calls
// over a few HTTP/2 connections; a pod that opens thousands (each idle TLS
// connection holds some 20 KiB) is not the API server.
const (
	DefaultMaxConns        = 1024
	DefaultMaxConnsPerAddr = 128
)

// connLimiter caps the open connections of a listener, in all and per
// client address. A connection past a cap is closed at once rather than left
// waiting in the backlog: a caller that waits would hold the API server's
// time, one that is refused retries or applies failurePolicy.
type connLimiter struct {
	net.Listener
	max, perAddr int

	mu     sync.Mutex
	total  int
	byAddr map[string]int
	// onRefuse is called for each connection closed at accept.
	onRefuse func(addr string)
}

func limitConns(l net.Listener, max, perAddr int, onRefuse func(string)) *connLimiter {
	return &connLimiter{Listener: l, max: max, perAddr: perAddr, byAddr: map[string]int{}, onRefuse: onRefuse}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		if l.take(addr) {
			return &limitedConn{Conn: c, release: func() { l.give(addr) }}, nil
		}
		_ = c.Close()
		if l.onRefuse != nil {
			l.onRefuse(addr)
		}
	}
}

func (l *connLimiter) take(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.byAddr[addr] >= l.perAddr {
		return false
	}
	l.total++
	l.byAddr[addr]++
	return true
}

func (l *connLimiter) give(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
}

// open reports the connections held, in all and by address.
func (l *connLimiter) open(addr string) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.byAddr[addr]
}

// limitedConn gives its place back once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
