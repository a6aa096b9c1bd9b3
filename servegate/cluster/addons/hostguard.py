"""Keep a port that a program insists on binding on every interface reachable from loopback only.

Some upstream programs have no flag for their listen host (controller-runtime's webhook
server, KEDA's metrics-server metrics endpoint). Their port is then guarded by a DROP rule
for TCP arriving on any interface but ``lo``, IPv4 and IPv6, tagged with a comment so that
``teardown`` (also after a crash) removes exactly the rules servegate inserted.
"""

from __future__ import annotations

import shutil
import subprocess

from servegate.errors import UserError

_TOOLS = ("iptables", "ip6tables")


def _tag(owner: str) -> str:
    return f"servegate-{owner}-loopback-only"


def guard(owner: str, port: int) -> None:
    """Insert the DROP rules for ``port`` (after removing ``owner``'s earlier ones)."""
    unguard(owner)
    tools = [t for t in _TOOLS if shutil.which(t)]
    if "iptables" not in tools:
        raise UserError(f"add-on {owner} needs iptables to keep port {port} private")
    for tool in tools:
        rule = [tool, "-I", "INPUT", "-p", "tcp", "!", "-i", "lo", "--dport", str(port)]
        rule += ["-m", "comment", "--comment", _tag(owner), "-j", "DROP"]
        proc = subprocess.run(rule, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise UserError(f"add-on {owner}: {tool} rule failed: {proc.stderr.strip()}")


def unguard(owner: str) -> None:
    """Remove every rule ``owner`` inserted (none: nothing to do)."""
    for tool in (t for t in _TOOLS if shutil.which(t)):
        rules = subprocess.run([tool, "-S", "INPUT"], capture_output=True, text=True, check=False)
        for line in rules.stdout.splitlines():
            if _tag(owner) in line:
                args = line.split()[2:]  # drop "-A INPUT"
                subprocess.run([tool, "-D", "INPUT", *args], capture_output=True, check=False)


def guarded_ports(owner: str) -> list[int]:
    """Ports ``owner`` guards now (IPv4 rules), for status and tests."""
    if not shutil.which("iptables"):
        return []
    rules = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True, check=False)
    out = []
    for line in rules.stdout.splitlines():
        if _tag(owner) in line and "--dport" in line:
            words = line.split()
            out.append(int(words[words.index("--dport") + 1]))
    return out


def _tagged_ports(tool: str) -> set[int]:
    rules = subprocess.run([tool, "-S", "INPUT"], capture_output=True, text=True, check=False)
    out = set()
    for line in rules.stdout.splitlines():
        words = line.split()
        tagged = any(w.startswith("servegate-") and w.endswith("-loopback-only") for w in words)
        if tagged and "--dport" in words and words[-2:] == ["-j", "DROP"] and "!" in words:
            out.add(int(words[words.index("--dport") + 1]))
    return out


def guarded_everywhere() -> list[int]:
    """TCP ports any owner keeps loopback-only, for IPv4 and (where there is ip6tables) IPv6."""
    tools = [t for t in _TOOLS if shutil.which(t)]
    if "iptables" not in tools:
        return []
    ports = set.intersection(*(_tagged_ports(t) for t in tools))
    return sorted(ports)
