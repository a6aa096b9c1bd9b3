// Command probe is servegate's network probe image, in the manner of agnhost.
//
// Isolation tests (NetworkPolicy, namespaces) need a small program that can listen, try to
// connect and resolve names, and report the outcome through its exit code so a test can
// read it from `kubectl exec` or a Job status without parsing logs.
//
//	probe serve [--port 8080]          answer HTTP: / and /healthz -> 200, /hostname -> pod name
//	probe connect HOST:PORT [--timeout 2s]   exit 0 if a TCP connection opens, 1 if not
//	probe lookup NAME                  print the addresses NAME resolves to; exit 1 on failure
//	probe pause                        wait for a signal (a stand-in sandbox)
//	probe relay HOST:PORT [--port 8000]  join every connection on PORT to HOST:PORT (relay.go)
//	probe devices                      print NVIDIA_VISIBLE_DEVICES and /dev/nvidiaN (devices.go)
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "serve":
		os.Exit(serve(args))
	case "connect":
		os.Exit(connect(args))
	case "lookup":
		os.Exit(lookup(args))
	case "pause":
		waitForSignal()
	case "relay":
		os.Exit(relay(args))
	case "devices":
		os.Exit(devices())
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe serve [--port N] | connect HOST:PORT [--timeout D] | lookup NAME | pause | relay HOST:PORT [--port N] | devices")
	os.Exit(2)
}

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	port := fs.Int("port", 8080, "TCP port to listen on")
	_ = fs.Parse(args)
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, host)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok %s %s\n", host, r.URL.Path)
	})
	srv := &http.Server{Addr: fmt.Sprintf(":%d", *port), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		waitForSignal()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	return 0
}

func connect(args []string) int {
	fs := flag.NewFlagSet("connect", flag.ExitOnError)
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if len(args) < 1 {
		usage()
	}
	target := args[0]
	_ = fs.Parse(args[1:])
	conn, err := net.DialTimeout("tcp", target, *timeout)
	if err != nil {
		fmt.Println("unreachable", target, err)
		return 1
	}
	_ = conn.Close()
	fmt.Println("reachable", target)
	return 0
}

func lookup(args []string) int {
	if len(args) != 1 {
		usage()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, args[0])
	if err != nil {
		fmt.Println("unresolved", args[0], err)
		return 1
	}
	for _, a := range addrs {
		fmt.Println(a)
	}
	return 0
}

func waitForSignal() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
}
