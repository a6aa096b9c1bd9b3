// Command fakegpu is a device plugin that advertises simulated GPUs to the kubelet.
//
// servegate's local node has no GPU, yet its suites must see the kubelet really allocate
// nvidia.com/gpu (and MIG, and time-sliced replicas) to pods, with the same scheduling,
// quota and admission behaviour as on a GPU node. Patching node capacity would make the
// scheduler count the resource but the kubelet would reject pods at admission; a device
// plugin makes the whole path real. Allocate hands the container the environment
// variables NVIDIA's plugin would (NVIDIA_VISIBLE_DEVICES), so a simulator can read
// "its" GPU ids.
//
//	fakegpu --dir /var/lib/kubelet/device-plugins --resource nvidia.com/gpu=4 \
//	        --resource nvidia.com/mig-1g.5gb=7
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

type resourceFlags []string

func (r *resourceFlags) String() string     { return strings.Join(*r, ",") }
func (r *resourceFlags) Set(v string) error { *r = append(*r, v); return nil }

// plugin serves one extended resource on its own socket.
type plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	resource string
	prefix   string
	count    int
	socket   string
	server   *grpc.Server
}

func (p *plugin) devices() []*pluginapi.Device {
	out := make([]*pluginapi.Device, 0, p.count)
	for i := 0; i < p.count; i++ {
		out = append(out, &pluginapi.Device{ID: fmt.Sprintf("%s-%d", p.prefix, i), Health: pluginapi.Healthy})
	}
	return out
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

func (p *plugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: p.devices()}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (p *plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{
				"NVIDIA_VISIBLE_DEVICES":  strings.Join(c.DevicesIds, ","),
				"SERVEGATE_FAKE_RESOURCE": p.resource,
			},
		})
	}
	return resp, nil
}

func (p *plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

func (p *plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

// start listens on the plugin socket and registers it with the kubelet.
func (p *plugin) start(dir string) error {
	_ = os.Remove(p.socket)
	lis, err := net.Listen("unix", p.socket)
	if err != nil {
		return err
	}
	p.server = grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(p.server, p)
	go func() { _ = p.server.Serve(lis) }()

	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "kubelet.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     filepath.Base(p.socket),
		ResourceName: p.resource,
	})
	return err
}

func (p *plugin) stop() {
	if p.server != nil {
		p.server.Stop()
		p.server = nil
	}
	_ = os.Remove(p.socket)
}

func parse(spec string) (*plugin, error) {
	name, n, ok := strings.Cut(spec, "=")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 || !strings.Contains(name, "/") {
		return nil, fmt.Errorf("bad --resource %q: want DOMAIN/NAME=COUNT", spec)
	}
	short := name[strings.LastIndex(name, "/")+1:]
	return &plugin{resource: name, prefix: "fake-" + short, count: count}, nil
}

func main() {
	var specs resourceFlags
	dir := flag.String("dir", "/var/lib/kubelet/device-plugins", "the kubelet's device-plugins directory")
	flag.Var(&specs, "resource", "DOMAIN/NAME=COUNT, repeatable")
	flag.Parse()
	if len(specs) == 0 {
		log.Fatal("at least one --resource is required")
	}
	var plugins []*plugin
	for _, s := range specs {
		p, err := parse(s)
		if err != nil {
			log.Fatal(err)
		}
		// Short names: the kubelet's directory may be deep and unix socket paths are capped at 107 bytes.
		p.socket = filepath.Join(*dir, "sg-"+p.prefix[len("fake-"):]+".sock")
		plugins = append(plugins, p)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	// The kubelet removes every plugin socket when it restarts; re-register when ours is gone.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, p := range plugins {
			if _, err := os.Stat(p.socket); err == nil && p.server != nil {
				continue
			}
			p.stop()
			if err := p.start(*dir); err != nil {
				log.Printf("register %s: %v (retrying)", p.resource, err)
				p.stop()
				continue
			}
			log.Printf("registered %s x%d", p.resource, p.count)
		}
		select {
		case <-sigs:
			for _, p := range plugins {
				p.stop()
			}
			return
		case <-tick.C:
		}
	}
}
