package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// relay listens on a TCP port and joins every connection to a new one to TARGET (a Service's
// DNS name and port, resolved for each connection), so that a port-forward to this one pod
// reaches the Service as in-cluster clients do: through its ClusterIP, balanced over the
// ready endpoints, surviving the pods behind it being replaced.
func relay(args []string) int {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	port := fs.Int("port", 8000, "TCP port to listen on")
	dialTimeout := fs.Duration("dial-timeout", 5*time.Second, "give up a connection to TARGET after this long")
	if len(args) < 1 {
		usage()
	}
	target := args[0]
	_ = fs.Parse(args[1:])
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	go func() {
		waitForSignal()
		_ = ln.Close()
	}()
	fmt.Println("relaying", ln.Addr(), "to", target)
	serveRelay(ln, target, *dialTimeout)
	return 0
}

// serveRelay accepts until ln is closed.
func serveRelay(ln net.Listener, target string, dialTimeout time.Duration) {
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		go join(client, target, dialTimeout)
	}
}

// join copies both ways until each side has finished sending, passing half-closes on, so an
// HTTP client that closes its write side still receives the whole response.
func join(client net.Conn, target string, dialTimeout time.Duration) {
	defer client.Close()
	upstream, err := net.DialTimeout("tcp", target, dialTimeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay: dial", target+":", err)
		return // the client sees its connection closed, as a refused one through a proxy
	}
	defer upstream.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	wg.Wait()
}
