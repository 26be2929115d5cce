// Package tcpproxy puts a TCP proxy between a client and the apiserver, so that a test can
// take the apiserver out of the client's reach, as a network partition would, and give it
// back. TLS passes through untouched: the client still talks to the apiserver itself.
package tcpproxy

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards connections from its own address to a target address.
type Proxy struct {
	// Addr is where clients connect: host:port on the loopback.
	Addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Start listens on a free loopback port and forwards to target until the test ends.
func Start(t *testing.T, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Cut drops every open connection and stops listening, so that new connections are refused:
// to the client the apiserver is gone, like a host behind a partition that answers with RST.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore listens again on the same address and lets connections through.
func (p *Proxy) Restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		t.Fatalf("listening on %s again: %v", p.Addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			p.forward(c)
		}
	}()
}

// forward pipes one client connection to a new connection to the target, both ways.
func (p *Proxy) forward(client net.Conn) {
	p.mu.Lock()
	if p.ln == nil { // cut between Accept and here
		p.mu.Unlock()
		client.Close()
		return
	}
	p.conns[client] = struct{}{}
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.drop(client)
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			return
		}
		p.mu.Lock()
		if _, open := p.conns[client]; !open {
			p.mu.Unlock()
			server.Close()
			return
		}
		p.conns[server] = struct{}{}
		p.mu.Unlock()
		defer p.drop(server)
		done := make(chan struct{}, 2)
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src) // an error (a reset, a Cut) ends the pair like EOF does
			done <- struct{}{}
		}
		go pipe(server, client)
		go pipe(client, server)
		<-done // either side ending ends both
	}()
}

func (p *Proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
