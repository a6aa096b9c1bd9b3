package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func startRelay(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go serveRelay(ln, target, time.Second)
	return ln.Addr().String()
}

func TestRelayCarriesRequestsToTheTarget(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write([]byte("got " + r.URL.Path + " " + string(body)))
	}))
	defer upstream.Close()
	addr := startRelay(t, strings.TrimPrefix(upstream.URL, "http://"))
	for i := 0; i < 3; i++ { // several connections, one after the other
		resp, err := http.Post("http://"+addr+"/v1/x", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(body) != "got /v1/x hello" {
			t.Fatalf("through the relay: %q", body)
		}
	}
}

func TestRelayClosesWhenTheTargetRefuses(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := dead.Addr().String()
	_ = dead.Close() // nothing listens there now
	conn, err := net.Dial("tcp", startRelay(t, target))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err != io.EOF || n != 0 {
		t.Fatalf("want the client's connection closed, got n=%d err=%v", n, err)
	}
}
