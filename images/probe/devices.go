package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// devices prints what a container was given of the node's GPUs, for the GPU allocation
// check: the NVIDIA_VISIBLE_DEVICES the device plugin set (or "unset") and the NVIDIA device
// nodes present under /dev.
func devices() int {
	if v, ok := os.LookupEnv("NVIDIA_VISIBLE_DEVICES"); ok {
		fmt.Printf("NVIDIA_VISIBLE_DEVICES=%s\n", v)
	} else {
		fmt.Println("NVIDIA_VISIBLE_DEVICES unset")
	}
	nodes, _ := filepath.Glob("/dev/nvidia[0-9]*")
	sort.Strings(nodes)
	for _, n := range nodes {
		fmt.Println("device", n)
	}
	return 0
}
