"""The simulator's write path: a chunk leaves at once, a burst in one iteration leaves once."""

from __future__ import annotations

import asyncio

from servegate.sim.http import Connection, Request, Responder


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def _noop(_req: Request, _resp: Responder) -> None:
    return None


def make_conn() -> tuple[Connection, FakeTransport]:
    conn = Connection(_noop, set(), set())
    tr = FakeTransport()
    conn.connection_made(tr)  # type: ignore[arg-type]
    return conn, tr


def test_first_write_goes_out_before_the_loop_turns() -> None:
    async def go() -> tuple[list[bytes], list[bytes]]:
        conn, tr = make_conn()
        conn.write(b"a")
        now = list(tr.writes)  # no await in between: written synchronously
        await asyncio.sleep(0)
        return now, tr.writes

    now, later = asyncio.run(go())
    assert now == [b"a"]
    assert later == [b"a"]


def test_writes_in_one_iteration_after_the_first_leave_together_in_order() -> None:
    async def go() -> tuple[list[bytes], list[bytes]]:
        conn, tr = make_conn()
        for part in (b"1", b"2", b"3", b"4"):
            conn.write(part)
        before = list(tr.writes)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        conn.write(b"5")  # a new iteration: direct again
        return before, tr.writes

    before, after = asyncio.run(go())
    assert before == [b"1"]
    assert after == [b"1", b"234", b"5"]


def test_role_and_first_token_share_one_write_as_two_chunks() -> None:
    async def go() -> list[bytes]:
        conn, tr = make_conn()
        resp = Responder(conn, Request("POST", "/x", {}, b"", keep_alive=True))
        resp.events(b"data: role\n\n", b"data: tok\n\n")
        return tr.writes

    writes = asyncio.run(go())
    assert writes == [b"c\r\ndata: role\n\n\r\nb\r\ndata: tok\n\n\r\n"]


def test_writes_after_close_are_dropped() -> None:
    async def go() -> list[bytes]:
        conn, tr = make_conn()
        conn.close()
        conn.write(b"late")
        await asyncio.sleep(0)
        return tr.writes

    assert asyncio.run(go()) == []
