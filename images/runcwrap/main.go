// Command runcwrap is an OCI runtime for dockerd that hands containers only the
// capabilities this host can grant, then runs the real runc.
//
// Some sandboxed hosts (a Firecracker VM among them) start every process without
// CAP_SYS_RESOURCE in its capability bounding set. A privileged container asks for every
// capability Docker knows, runc cannot raise one the bounding set lacks, and the container
// fails with "unable to apply caps: operation not permitted". servegate registers this
// program with dockerd (--add-runtime, made the default) only on such hosts. For `create`
// and `run` it edits the bundle's config.json, for `exec` the --process file, removing every
// capability missing from /proc/self/status's CapBnd; then it execs runc with the same
// arguments. The real runc is $SERVEGATE_RUNC, else the first other `runc` on PATH.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames lists Linux capabilities by number (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// missingCaps names the known capabilities absent from this process's bounding set.
func missingCaps() (map[string]bool, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:")), 16, 64)
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for i, name := range capNames {
			if mask&(1<<uint(i)) == 0 {
				out[name] = true
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// dropCaps removes the missing capabilities from an OCI "capabilities" object.
func dropCaps(caps map[string]json.RawMessage, missing map[string]bool) (bool, error) {
	changed := false
	for set, raw := range caps {
		var names []string
		if err := json.Unmarshal(raw, &names); err != nil {
			return false, fmt.Errorf("capabilities.%s: %v", set, err)
		}
		kept := names[:0]
		for _, n := range names {
			if missing[n] {
				changed = true
				continue
			}
			kept = append(kept, n)
		}
		enc, _ := json.Marshal(kept)
		caps[set] = enc
	}
	return changed, nil
}

// patchFile rewrites the JSON file at path, where the capabilities object sits under
// the keys in nest (["process"] for a bundle's config.json, none for an exec process file).
func patchFile(path string, nest []string, missing map[string]bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	// Walk down to the object holding "capabilities", remembering the way back up.
	chain := []map[string]json.RawMessage{top}
	for _, key := range nest {
		var next map[string]json.RawMessage
		if err := json.Unmarshal(chain[len(chain)-1][key], &next); err != nil || next == nil {
			return nil // no process section: nothing to change
		}
		chain = append(chain, next)
	}
	holder := chain[len(chain)-1]
	var caps map[string]json.RawMessage
	if err := json.Unmarshal(holder["capabilities"], &caps); err != nil || caps == nil {
		return nil
	}
	changed, err := dropCaps(caps, missing)
	if err != nil || !changed {
		return err
	}
	holder["capabilities"], _ = json.Marshal(caps)
	for i := len(nest) - 1; i >= 0; i-- {
		chain[i][nest[i]], _ = json.Marshal(chain[i+1])
	}
	out, err := json.Marshal(top)
	if err != nil {
		return err
	}
	tmp := path + ".runcwrap"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// globalWithValue are runc's global flags that take a separate value.
var globalWithValue = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

// target finds the subcommand and the file it reads capabilities from.
func target(args []string) (file string, nest []string) {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if globalWithValue[args[i]] {
			i++
		}
		i++
	}
	if i >= len(args) {
		return "", nil
	}
	cmd, rest := args[i], args[i+1:]
	flag := map[string][2]string{"create": {"--bundle", "-b"}, "run": {"--bundle", "-b"}, "exec": {"--process", "-p"}}[cmd]
	if flag[0] == "" {
		return "", nil
	}
	value := ""
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case (a == flag[0] || a == flag[1]) && j+1 < len(rest):
			value = rest[j+1]
		case strings.HasPrefix(a, flag[0]+"="):
			value = strings.TrimPrefix(a, flag[0]+"=")
		}
	}
	if cmd == "exec" {
		return value, nil // exec without --process carries no capability list to edit
	}
	if value == "" {
		value = "."
	}
	return filepath.Join(value, "config.json"), []string{"process"}
}

func realRunc() (string, error) {
	if p := os.Getenv("SERVEGATE_RUNC"); p != "" {
		return p, nil
	}
	self, _ := os.Executable()
	for _, dir := range filepath.SplitList(os.Getenv("PATH") + ":/usr/sbin:/usr/bin:/sbin:/bin") {
		cand := filepath.Join(dir, "runc")
		if info, err := os.Stat(cand); err == nil && !info.IsDir() && cand != self {
			if resolved, _ := filepath.EvalSymlinks(cand); resolved != self {
				return cand, nil
			}
		}
	}
	return exec.LookPath("runc")
}

func main() {
	args := os.Args[1:]
	if file, nest := target(args); file != "" {
		missing, err := missingCaps()
		if err == nil && len(missing) > 0 {
			err = patchFile(file, nest, missing)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "runcwrap: %v\n", err)
			os.Exit(1)
		}
	}
	runc, err := realRunc()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runcwrap: runc not found: %v\n", err)
		os.Exit(1)
	}
	if err := syscall.Exec(runc, append([]string{runc}, args...), os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runcwrap: exec %s: %v\n", runc, err)
		os.Exit(1)
	}
}
