// Command nodetool talks CRI to servegate's containerd when the kubelet is gone.
//
// `down` must leave no network namespace, veth or mount behind. Only the CRI
// StopPodSandbox call makes containerd run the CNI DEL that removes a pod's veth and
// unmounts its network namespace, and `ctr` cannot issue it. This is the one CRI client
// servegate needs, instead of building the whole of crictl.
//
//	nodetool reset --socket /path/ctd.sock   stop and remove every pod sandbox; print a count
//	nodetool pods --socket /path/ctd.sock    list pod sandboxes (id namespace/name state)
//	nodetool sandbox --socket /path/ctd.sock --name N   start a bare pod sandbox; print its IP
//	                                         (a kubelet-free check of containerd, CNI and pause)
//	nodetool podsd --server URL --ca F --cert F --key F --out FILE [--interval 5s]
//	                                         keep a Prometheus file_sd list of annotated pods
//	                                         (Debian's Prometheus has no kubernetes_sd)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "podsd" {
		os.Exit(podsd(os.Args[2:]))
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: nodetool reset|pods --socket PATH")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	socket := fs.String("socket", "", "containerd socket")
	timeout := fs.Duration("timeout", 60*time.Second, "overall deadline")
	name := fs.String("name", "check", "sandbox name (sandbox command)")
	_ = fs.Parse(os.Args[2:])
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "--socket is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+*socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer conn.Close()
	rt := cri.NewRuntimeServiceClient(conn)
	list, err := rt.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "list:", err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "sandbox":
		cfg := &cri.PodSandboxConfig{
			Metadata:     &cri.PodSandboxMetadata{Name: *name, Namespace: "servegate-check", Uid: *name},
			Hostname:     *name,
			LogDirectory: "",
			Linux:        &cri.LinuxPodSandboxConfig{},
		}
		run, err := rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			os.Exit(1)
		}
		st, err := rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: run.PodSandboxId})
		if err != nil {
			fmt.Fprintln(os.Stderr, "status:", err)
			os.Exit(1)
		}
		fmt.Println(run.PodSandboxId, st.Status.GetNetwork().GetIp())
	case "pods":
		for _, p := range list.Items {
			fmt.Printf("%s %s/%s %s\n", p.Id, p.Metadata.Namespace, p.Metadata.Name, p.State)
		}
	case "reset":
		failed := 0
		for _, p := range list.Items {
			if _, err := rt.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				fmt.Fprintln(os.Stderr, "stop", p.Id, err)
				failed++
				continue
			}
			if _, err := rt.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				fmt.Fprintln(os.Stderr, "remove", p.Id, err)
				failed++
			}
		}
		fmt.Printf("removed %d of %d pod sandboxes\n", len(list.Items)-failed, len(list.Items))
		if failed > 0 {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
