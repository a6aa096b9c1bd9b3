"""How many streamed tokens per second `servegate sim` sends from ONE core.

The simulator runs pinned to one CPU with zero model latency, so the figure is its own
HTTP/SSE ceiling: one SSE event (one HTTP chunk) per token, as vLLM sends them. The baseline,
measured in the same run with the same client, is a minimal raw asyncio streamer that writes
pre-built events in a tight loop (no parsing of the body, no engine, no templates): the
Python cost of "one socket write per token" (the simulator instead coalesces the events a
connection gets within one event-loop iteration). A third server sends each whole response
in one write: its figure is the client's own ceiling, and it must sit well above the
simulator's for the simulator's figure to mean anything (the script says if it does not).

    .venv/bin/python bench/sim_throughput.py [--runs 5] [--seconds 2] [--conns 64]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import time
import typing

PATTERN = b'"delta":{"content":"'
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n%s"
)


def _body(tokens: int) -> bytes:
    return json.dumps(
        {
            "model": "sim-model",
            "messages": [{"role": "user", "content": "benchmark the stream"}],
            "max_tokens": tokens,
            "ignore_eos": True,
            "stream": True,
        }
    ).encode()


# --- client (runs in its own process) ---------------------------------------------------------
class _ClientConn(asyncio.Protocol):
    def __init__(
        self, req: bytes, deadline: float, stats: dict[str, int], done: asyncio.Future[None]
    ) -> None:
        self.req, self.deadline, self.stats, self.done = req, deadline, stats, done
        self.tail = b""
        self.t: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = typing.cast(asyncio.Transport, transport)
        self.t.write(self.req)

    def data_received(self, data: bytes) -> None:
        buf = self.tail + data
        self.stats["tokens"] += buf.count(PATTERN) - self.tail.count(PATTERN)
        self.tail = buf[-32:]
        if buf.endswith(b"0\r\n\r\n") and b"[DONE]" in buf[-64:]:
            self.stats["requests"] += 1
            self.tail = b""
            if time.perf_counter() < self.deadline:
                assert self.t is not None
                self.t.write(self.req)
            else:
                assert self.t is not None
                self.t.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _client(port: int, conns: int, seconds: float, tokens: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    body = _body(tokens)
    req = REQUEST % (len(body), body)
    stats = {"tokens": 0, "requests": 0}
    t0 = time.perf_counter()
    deadline = t0 + seconds
    futs = []
    for _ in range(conns):
        fut: asyncio.Future[None] = loop.create_future()
        factory = functools.partial(_ClientConn, req, deadline, stats, fut)
        await loop.create_connection(factory, "127.0.0.1", port)
        futs.append(fut)
    await asyncio.gather(*futs)
    return {
        "tokens": stats["tokens"],
        "requests": stats["requests"],
        "elapsed": time.perf_counter() - t0,
    }


# --- baseline server: the minimal raw streamer ---------------------------------------------
class _RawStreamer(asyncio.Protocol):
    EVENT = (
        b'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,'
        b'"model":"sim-model","choices":[{"index":0,"delta":{"content":" token"},'
        b'"logprobs":null,"finish_reason":null}]}\n\n'
    )

    def __init__(self, tokens: int, blob: bool) -> None:
        self.tokens = tokens
        self.blob = blob
        self.buf = b""
        chunk = b"%x\r\n%s\r\n" % (len(self.EVENT), self.EVENT)
        self.chunk = chunk
        done = b"data: [DONE]\n\n"
        self.end = b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        if len(rest) < length:
            return
        self.buf = rest[length:]
        asyncio.get_running_loop().create_task(self._stream())

    async def _stream(self) -> None:
        t = self.t
        t.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        if self.blob:
            t.write(self.chunk * self.tokens + self.end)
            return
        for i in range(self.tokens):
            t.write(self.chunk)
            if i % 64 == 63:
                await asyncio.sleep(0)  # let other connections progress, as a server must
        t.write(self.end)


async def _baseline_server(tokens: int, blob: bool) -> None:
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: _RawStreamer(tokens, blob), "127.0.0.1", 0)
    print(f"listening {srv.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


# --- orchestration --------------------------------------------------------------------------
def _run_clients(port: int, args: argparse.Namespace, cpu: int) -> float:
    procs = []
    per = max(1, args.conns // args.clients)
    for _ in range(args.clients):
        cmd = [
            sys.executable,
            __file__,
            "--client",
            str(port),
            "--conns",
            str(per),
            "--seconds",
            str(args.seconds),
            "--tokens",
            str(args.tokens),
        ]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        os.sched_setaffinity(p.pid, {cpu})
        procs.append(p)
    results = [json.loads(p.communicate()[0]) for p in procs]
    tokens = sum(r["tokens"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    if not tokens or not all(r["requests"] for r in results):
        raise SystemExit(f"a client finished no request: {results}")
    return float(tokens / elapsed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--conns", type=int, default=64, help="concurrent streams in total")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--tokens", type=int, default=256, help="tokens per request")
    ap.add_argument("--client", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--baseline-server", choices=["event", "blob"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    import uvloop

    if args.client is not None:
        out = uvloop.run(_client(args.client, args.conns, args.seconds, args.tokens))
        print(json.dumps(out))
        return
    if args.baseline_server:
        uvloop.run(_baseline_server(args.tokens, args.baseline_server == "blob"))
        return

    from servegate.sim.process import SimProcess

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = cpus[0], cpus[-1]
    servers, ports = [], []
    for mode in ("event", "blob"):
        cmd = [sys.executable, __file__, "--baseline-server", mode, "--tokens", str(args.tokens)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        os.sched_setaffinity(p.pid, {server_cpu})
        assert p.stdout is not None
        ports.append(int(p.stdout.readline().split()[1]))
        servers.append(p)
    sim_rates: list[float] = []
    base_rates: list[float] = []
    ceil_rates: list[float] = []
    try:
        with SimProcess(
            cpu=server_cpu,
            decode_base_s=0.0,
            decode_per_seq_s=0.0,
            prefill_s_per_token=0.0,
            max_num_seqs=1024,
            kv_cache_tokens=10_000_000,
        ) as sim:
            _run_clients(sim.port, args, client_cpu)  # warm-up
            for _ in range(args.runs):
                sim_rates.append(_run_clients(sim.port, args, client_cpu))
                base_rates.append(_run_clients(ports[0], args, client_cpu))
                ceil_rates.append(_run_clients(ports[1], args, client_cpu))
    finally:
        for p in servers:
            p.terminate()
            p.wait()

    def show(name: str, xs: list[float]) -> None:
        print(
            f"{name:<34} median {statistics.median(xs):>9,.0f} tokens/s   "
            f"min {min(xs):>9,.0f}  max {max(xs):>9,.0f}  (n={len(xs)})"
        )

    print(
        f"server pinned to CPU {server_cpu}; clients ({args.clients} procs, {args.conns} "
        f"streams, {args.tokens} tokens each) on CPU {client_cpu}"
    )
    show("servegate sim (batching, 0 latency)", sim_rates)
    show("baseline: raw streamer, write/token", base_rates)
    show("client ceiling: one write/response", ceil_rates)
    sim_med = statistics.median(sim_rates)
    print(f"sim / baseline: {sim_med / statistics.median(base_rates):.2f}")
    headroom = statistics.median(ceil_rates) / sim_med
    print(
        f"client ceiling / sim: {headroom:.2f}"
        + ("" if headroom > 1.5 else "  (WARNING: the client may be the bottleneck)")
    )


if __name__ == "__main__":
    main()
