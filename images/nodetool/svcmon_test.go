package main

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
)

// A fake API server: two namespaces, one monitor selecting model-server Services by label.
var fakeAPI = map[string]string{
	"/apis/monitoring.coreos.com/v1/servicemonitors": `{"items": [
	  {"metadata": {"name": "vllm", "namespace": "a"},
	   "spec": {"selector": {"matchLabels": {"role": "model-server"},
	                         "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["headless"]}]},
	            "endpoints": [{"port": "http", "path": "/metrics"}]}}]}`,
	"/api/v1/services": `{"items": [
	  {"metadata": {"name": "vllm", "namespace": "a", "labels": {"role": "model-server"}}},
	  {"metadata": {"name": "vllm-headless", "namespace": "a", "labels": {"role": "model-server", "tier": "headless"}}},
	  {"metadata": {"name": "vllm", "namespace": "b", "labels": {"role": "model-server"}}},
	  {"metadata": {"name": "other", "namespace": "a", "labels": {"role": "gateway"}}}]}`,
	"/apis/discovery.k8s.io/v1/endpointslices": `{"items": [
	  {"metadata": {"name": "vllm-x", "namespace": "a", "labels": {"kubernetes.io/service-name": "vllm"}},
	   "endpoints": [{"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "name": "vllm-1"}},
	                 {"addresses": ["10.0.0.2"], "targetRef": {"kind": "Pod", "name": "vllm-2"}}],
	   "ports": [{"name": "http", "port": 8000}, {"name": "grpc", "port": 9000}]},
	  {"metadata": {"name": "vllm-headless-x", "namespace": "a", "labels": {"kubernetes.io/service-name": "vllm-headless"}},
	   "endpoints": [{"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "name": "vllm-1"}}],
	   "ports": [{"name": "http", "port": 8000}]},
	  {"metadata": {"name": "vllm-y", "namespace": "b", "labels": {"kubernetes.io/service-name": "vllm"}},
	   "endpoints": [{"addresses": ["10.0.1.1"], "targetRef": {"kind": "Pod", "name": "vllm-0"}}],
	   "ports": [{"name": "http", "port": 8000}]}]}`,
}

func serve(t *testing.T, api map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := api[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMonitorTargetsAsTheOperatorLabelsThem(t *testing.T) {
	srv := serve(t, fakeAPI)
	got, err := monitorTargets(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Only namespace a's client Service: b is not watched, the headless one is excluded by
	// the expression, the gateway by the label.
	if len(got) != 2 {
		t.Fatalf("want 2 targets, got %d: %+v", len(got), got)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Targets[0] < got[j].Targets[0] })
	want := map[string]string{
		"namespace": "a", "service": "vllm", "job": "vllm", "endpoint": "http",
		"pod": "vllm-1", "__metrics_path__": "/metrics", "__scheme__": "http",
	}
	if got[0].Targets[0] != "10.0.0.1:8000" {
		t.Fatalf("target %v: want the http port of the slice", got[0].Targets)
	}
	for k, v := range want {
		if got[0].Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[0].Labels[k], v)
		}
	}
	if got[1].Labels["pod"] != "vllm-2" {
		t.Errorf("second target's pod = %q", got[1].Labels["pod"])
	}
}

func TestNamespaceSelectorAnyAndMissingCRD(t *testing.T) {
	api := map[string]string{}
	for k, v := range fakeAPI {
		api[k] = v
	}
	api["/apis/monitoring.coreos.com/v1/servicemonitors"] = `{"items": [
	  {"metadata": {"name": "m", "namespace": "x"},
	   "spec": {"namespaceSelector": {"any": true}, "selector": {"matchLabels": {"role": "model-server"}},
	            "endpoints": [{"port": "http"}]}}]}`
	anyNS := serve(t, api)
	got, err := monitorTargets(anyNS.Client(), anyNS.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 { // a/vllm x2, a/vllm-headless, b/vllm
		t.Fatalf("want 4 targets with namespaceSelector any, got %d", len(got))
	}
	delete(api, "/apis/monitoring.coreos.com/v1/servicemonitors")
	srv := serve(t, api)
	if got, err := monitorTargets(srv.Client(), srv.URL); err != nil || len(got) != 0 {
		t.Fatalf("without the CRD: want no targets and no error, got %d, %v", len(got), err)
	}
}

func TestUnknownOperatorSelectsNothing(t *testing.T) {
	s := labelSelector{MatchExpressions: []selectorExpr{{Key: "a", Operator: "Like"}}}
	if s.matches(map[string]string{"a": "b"}) {
		t.Fatal("an unknown operator must select nothing")
	}
}
