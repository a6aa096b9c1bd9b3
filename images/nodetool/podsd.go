package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"
)

type podList struct {
	Items []struct {
		Metadata struct {
			Name        string            `json:"name"`
			Namespace   string            `json:"namespace"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Status struct {
			PodIP string `json:"podIP"`
			Phase string `json:"phase"`
		} `json:"status"`
	} `json:"items"`
}

type target struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

var invalidLabel = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// podsd polls the API server for pods annotated prometheus.io/scrape=true and writes them
// as a Prometheus file_sd target list, the same relabelling kubernetes_sd users write, with
// the targets of the cluster's ServiceMonitors (svcmon.go).
func podsd(args []string) int {
	fs := flag.NewFlagSet("podsd", flag.ExitOnError)
	server := fs.String("server", "", "API server URL")
	caFile := fs.String("ca", "", "CA bundle")
	certFile := fs.String("cert", "", "client certificate")
	keyFile := fs.String("key", "", "client key")
	out := fs.String("out", "", "file_sd JSON file to keep up to date")
	interval := fs.Duration("interval", 5*time.Second, "poll interval")
	_ = fs.Parse(args)
	if *server == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "podsd: --server and --out are required")
		return 2
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podsd:", err)
		return 1
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podsd:", err)
		return 1
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	for {
		if err := refresh(client, *server, *out); err != nil {
			fmt.Fprintln(os.Stderr, "podsd:", err)
		}
		select {
		case <-sigs:
			return 0
		case <-time.After(*interval):
		}
	}
}

func refresh(client *http.Client, server, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/api/v1/pods", nil)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("list pods: HTTP %d", resp.StatusCode)
	}
	var pods podList
	if err := json.NewDecoder(resp.Body).Decode(&pods); err != nil {
		return err
	}
	targets := []target{}
	for _, p := range pods.Items {
		a := p.Metadata.Annotations
		if a["prometheus.io/scrape"] != "true" || p.Status.PodIP == "" || p.Status.Phase != "Running" {
			continue
		}
		port := a["prometheus.io/port"]
		if port == "" {
			port = "80"
		}
		labels := map[string]string{"namespace": p.Metadata.Namespace, "pod": p.Metadata.Name}
		if path := a["prometheus.io/path"]; path != "" {
			labels["__metrics_path__"] = path
		}
		for k, v := range p.Metadata.Labels {
			labels[invalidLabel.ReplaceAllString(k, "_")] = v
		}
		targets = append(targets, target{Targets: []string{p.Status.PodIP + ":" + port}, Labels: labels})
	}
	monitored, err := monitorTargets(client, server)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podsd: ServiceMonitors:", err) // the annotated pods still count
	}
	targets = append(targets, monitored...)
	sort.SliceStable(targets, func(i, j int) bool { return targets[i].Targets[0] < targets[j].Targets[0] })
	data, _ := json.MarshalIndent(targets, "", "  ")
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
