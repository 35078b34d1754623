package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// Defaults of the connection limits. The API server multiplexes its calls
// over a few HTTP/2 connections; a pod that opens thousands (each idle TLS
// connection holds some 20 KiB) is not the API server.
const (
	DefaultMaxConns        = 1024
	DefaultMaxConnsPerAddr = 128
)

// connLimiter caps the open connections of a listener, in all and per
// client address. A connection past the per-address cap is closed at once
// rather than left waiting in the backlog: a caller that waits would hold
// the API server's time, one that is refused retries or applies
// failurePolicy. At the total cap the addresses share: a connection from an
// address holding fewer than the one that holds the most takes the place of
// that one's newest connection that serves no request (trackBusy), so that
// pods opening connections from many addresses cannot keep the API server
// from opening its own.
type connLimiter struct {
	net.Listener
	max, perAddr int

	mu     sync.Mutex
	total  int
	byAddr map[string][]*limitedConn
	// onRefuse is called for each connection closed at accept.
	onRefuse func(addr string)
}

func limitConns(l net.Listener, max, perAddr int, onRefuse func(string)) *connLimiter {
	return &connLimiter{Listener: l, max: max, perAddr: perAddr, byAddr: map[string][]*limitedConn{}, onRefuse: onRefuse}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		lc := &limitedConn{Conn: c}
		lc.release = func() { l.give(addr, lc) }
		ok, evict := l.take(addr, lc)
		if evict != nil {
			_ = evict.Close()
		}
		if ok {
			return lc, nil
		}
		_ = c.Close()
		if l.onRefuse != nil {
			l.onRefuse(addr)
		}
	}
}

// take records c from addr if the caps allow it, and returns the
// connection it displaces at the total cap, which the caller closes.
func (l *connLimiter) take(addr string, c *limitedConn) (bool, *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine := len(l.byAddr[addr])
	if mine >= l.perAddr {
		return false, nil
	}
	var evict *limitedConn
	if l.total >= l.max {
		// The address holding the most; ties go to none, so that two
		// addresses at one count do not take turns closing each other's.
		heaviest, most := "", 0
		for a, cs := range l.byAddr {
			if len(cs) > most {
				heaviest, most = a, len(cs)
			}
		}
		if most <= mine+1 {
			return false, nil
		}
		// Its newest connection not serving a request: one in its
		// handshake or idle between requests. A request is never cut.
		cs := l.byAddr[heaviest]
		for i := len(cs) - 1; i >= 0; i-- {
			if !cs[i].busy.Load() {
				evict = cs[i]
				break
			}
		}
		if evict == nil {
			return false, nil
		}
		l.forget(heaviest, evict)
	}
	l.total++
	l.byAddr[addr] = append(l.byAddr[addr], c)
	return true, evict
}

func (l *connLimiter) give(addr string, c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forget(addr, c)
}

// forget drops c from addr's connections, once: a displaced connection is
// forgotten when displaced, and its Close then finds nothing.
func (l *connLimiter) forget(addr string, c *limitedConn) {
	cs := l.byAddr[addr]
	for i, x := range cs {
		if x == c {
			l.total--
			cs = append(cs[:i], cs[i+1:]...)
			if len(cs) == 0 {
				delete(l.byAddr, addr)
			} else {
				l.byAddr[addr] = cs
			}
			return
		}
	}
}

// open reports the connections held, in all and by address.
func (l *connLimiter) open(addr string) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, len(l.byAddr[addr])
}

// limitedConn gives its place back once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
	// busy: a request is being served on it (http.StateActive).
	busy atomic.Bool
}

// trackBusy is an http.Server's ConnState: it marks the connections of a
// connLimiter that serve a request, which are never displaced.
func trackBusy(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok {
		lc.busy.Store(st == http.StateActive)
	}
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
