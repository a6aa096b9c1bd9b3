package main

// ServiceMonitor targets for podsd: what prometheus-operator would scrape for the
// monitoring.coreos.com/v1 ServiceMonitors in the cluster, so that the reference manifests'
// own ServiceMonitors (and the "service" label their queries use) work on the local
// cluster, whose Prometheus is Debian's, without the operator.
//
// Covered: namespaceSelector (any, matchNames; default the monitor's own namespace),
// selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist), endpoints by port
// name with path and scheme. Each address of the Service's EndpointSlices becomes a target
// labelled namespace, service, pod, endpoint and job (the Service's name), as the operator
// labels them. Not covered: relabelings, jobLabel, TLS and auth settings, targetPort.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

type meta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type selectorExpr struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []selectorExpr    `json:"matchExpressions"`
}

type serviceMonitor struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		NamespaceSelector struct {
			Any        bool     `json:"any"`
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Selector  labelSelector `json:"selector"`
		Endpoints []struct {
			Port   string `json:"port"`
			Path   string `json:"path"`
			Scheme string `json:"scheme"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type service struct {
	Metadata meta `json:"metadata"`
}

type endpointSlice struct {
	Metadata  meta `json:"metadata"`
	Endpoints []struct {
		Addresses []string `json:"addresses"`
		TargetRef *struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"targetRef"`
	} `json:"endpoints"`
	Ports []struct {
		Name *string `json:"name"`
		Port *int    `json:"port"`
	} `json:"ports"`
}

func getList(client *http.Client, server, path string, into any) (found bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+path, nil)
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil // the CRD is not installed: no monitors
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	return true, json.NewDecoder(resp.Body).Decode(into)
}

func (s labelSelector) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, has := labels[e.Key]
		in := false
		for _, want := range e.Values {
			in = in || (has && v == want)
		}
		switch e.Operator {
		case "In":
			if !in {
				return false
			}
		case "NotIn":
			if in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false // an operator we do not know selects nothing, as the API would refuse it
		}
	}
	return true
}

func (m serviceMonitor) watches(namespace string) bool {
	ns := m.Spec.NamespaceSelector
	if ns.Any {
		return true
	}
	if len(ns.MatchNames) == 0 {
		return namespace == m.Metadata.Namespace
	}
	for _, n := range ns.MatchNames {
		if n == namespace {
			return true
		}
	}
	return false
}

// monitorTargets lists the targets of every ServiceMonitor; none when the CRD is absent.
func monitorTargets(client *http.Client, server string) ([]target, error) {
	var monitors struct{ Items []serviceMonitor }
	found, err := getList(client, server, "/apis/monitoring.coreos.com/v1/servicemonitors", &monitors)
	if err != nil || !found || len(monitors.Items) == 0 {
		return nil, err
	}
	var services struct{ Items []service }
	if _, err := getList(client, server, "/api/v1/services", &services); err != nil {
		return nil, err
	}
	var slices struct{ Items []endpointSlice }
	if _, err := getList(client, server, "/apis/discovery.k8s.io/v1/endpointslices", &slices); err != nil {
		return nil, err
	}
	byService := map[string][]endpointSlice{}
	for _, s := range slices.Items {
		key := s.Metadata.Namespace + "/" + s.Metadata.Labels["kubernetes.io/service-name"]
		byService[key] = append(byService[key], s)
	}
	targets := []target{}
	seen := map[string]bool{}
	for _, m := range monitors.Items {
		for _, svc := range services.Items {
			if !m.watches(svc.Metadata.Namespace) || !m.Spec.Selector.matches(svc.Metadata.Labels) {
				continue
			}
			for _, ep := range m.Spec.Endpoints {
				for _, s := range byService[svc.Metadata.Namespace+"/"+svc.Metadata.Name] {
					targets = append(targets, sliceTargets(s, svc, ep.Port, ep.Path, ep.Scheme, seen)...)
				}
			}
		}
	}
	return targets, nil
}

func sliceTargets(s endpointSlice, svc service, port, path, scheme string, seen map[string]bool) []target {
	number := 0
	for _, p := range s.Ports {
		if p.Name != nil && *p.Name == port && p.Port != nil {
			number = *p.Port
		}
	}
	if number == 0 {
		return nil
	}
	if path == "" {
		path = "/metrics"
	}
	if scheme == "" {
		scheme = "http"
	}
	out := []target{}
	for _, e := range s.Endpoints {
		for _, addr := range e.Addresses {
			address := addr + ":" + strconv.Itoa(number)
			key := svc.Metadata.Namespace + "/" + svc.Metadata.Name + "/" + address + path
			if seen[key] {
				continue // two monitors selecting one Service: scraped once
			}
			seen[key] = true
			labels := map[string]string{
				"namespace":        svc.Metadata.Namespace,
				"service":          svc.Metadata.Name,
				"job":              svc.Metadata.Name,
				"endpoint":         port,
				"__metrics_path__": path,
				"__scheme__":       scheme,
			}
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				labels["pod"] = e.TargetRef.Name
			}
			out = append(out, target{Targets: []string{address}, Labels: labels})
		}
	}
	return out
}
