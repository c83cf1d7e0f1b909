"""6. Push latency: a `riskLevelChange` leaves a local WebSocket server → the frame that shows its
uniMMR is painted, on the real dashboard (PmtuiApp under `run_test`, 100x30, the demo exchange for
REST, polling slowed to 30 s / 60 s so only the push can change the figure).

Baseline, same run and loop: the bare transport, the same frame sent → received by a websockets
client. "Painted" is the first `App._display` of a compositor update after the header holds the
new figure (the moment Textual hands the frame to the terminal driver).

Prints push_latency_ms (median), push_latency_max_ms, baseline_ws_roundtrip_ms.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from common import emit, parse_args


def frame(i: int) -> tuple[str, str]:
    mmr = f"{1.10 + (i % 7) * 0.05:.2f}"  # through the danger and margin-call bands
    # Dated now: an event older than the REST uniMMR on screen is rightly ignored.
    body = {"e": "riskLevelChange", "E": int(time.time() * 1000) + i, "u": mmr, "s": "MARGIN_CALL",
            "eq": "30.23", "ae": "30.23", "m": "15.11"}
    return json.dumps(body), mmr


class _Frames:
    """A local WebSocket server that sends what is put in `outbox` (or `probe_box`, on /probe)."""

    def __init__(self) -> None:
        self.probe_box: asyncio.Queue[str] = asyncio.Queue()
        self.outbox: asyncio.Queue[str] = asyncio.Queue()
        self.connected = asyncio.Event()

    async def handler(self, conn) -> None:
        probing = conn.request.path.endswith("/probe")
        if not probing:
            self.connected.set()
        box = self.probe_box if probing else self.outbox
        closed = asyncio.ensure_future(conn.wait_closed())
        try:
            while True:  # until the client goes away (the server waits for its handlers)
                frame = asyncio.ensure_future(box.get())
                await asyncio.wait({frame, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not frame.done():
                    frame.cancel()
                    return
                await conn.send(frame.result())
        except Exception:
            pass
        finally:
            closed.cancel()


async def floor(rounds: int) -> list[float]:
    """The same frames over the same kind of socket, nothing else (ms each)."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    frames = _Frames()
    times: list[float] = []
    async with serve(frames.handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/pm/ws/probe", ping_interval=None) as probe:
            for i in range(rounds):
                text, _ = frame(i)
                t0 = time.perf_counter()
                await frames.probe_box.put(text)
                await probe.recv()
                times.append((time.perf_counter() - t0) * 1000)
    return times


async def latencies(rounds: int, exchange=None, size: tuple[int, int] = (100, 30)) -> list[float]:
    """Pushed riskLevelChange -> painted, in ms, for each of `rounds` frames, on a dashboard
    over `exchange` (the demo account by default)."""
    from websockets.asyncio.server import serve

    from pmtui.budget import WeightBudget
    from pmtui.client import PapiClient
    from pmtui.config import Settings
    from pmtui.demo import DEMO_API_KEY, DEMO_API_SECRET, DemoExchange
    from pmtui.monitor import Monitor
    from pmtui.signing import HmacSigner
    from pmtui.stream import UserStream
    from pmtui.tui.app import PmtuiApp
    from pmtui.tui.widgets.summary import SummaryBar

    frames = _Frames()
    async with serve(frames.handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}/pm/ws"
        exchange = exchange if exchange is not None else DemoExchange(seed=7)
        client = PapiClient(api_key=DEMO_API_KEY, signer=HmacSigner(DEMO_API_SECRET), transport=exchange,
                            budget=WeightBudget(1.0, limit=10**9))
        monitor = Monitor(settings=Settings(interval=30, account_interval=60), client=client)
        monitor.push_debounce = 3600  # the confirming REST refresh is not what is measured
        monitor.attach_stream(UserStream(client, url, on_event=monitor.on_push_event,
                                         on_status=monitor.on_push_status))
        app = PmtuiApp(settings=monitor.settings, monitor=monitor, title="BENCH")
        app.remember_theme = False
        app.freeze_heap = True  # as the CLI's
        painted: list[float] = []
        want: list[str] = []
        display = app._display

        def hooked(screen, renderable) -> None:
            display(screen, renderable)
            if renderable is not None and want and not app._batch_count:
                header = app.query_one(SummaryBar).render_line(0).text
                if f"uniMMR {want[0]}" in header:
                    painted.append(time.perf_counter())
                    want.clear()

        app._display = hooked  # type: ignore[method-assign]
        latencies: list[float] = []
        async with app.run_test(size=size) as pilot:
            await asyncio.wait_for(frames.connected.wait(), 10)
            while monitor.view is None:
                await pilot.pause(0.01)
            await pilot.pause(0.3)  # the first data's frame is not what is measured
            for i in range(rounds):
                text, mmr = frame(i)
                painted.clear()
                want[:] = [mmr]
                t0 = time.perf_counter()
                await frames.outbox.put(text)
                deadline = t0 + 5
                while not painted and time.perf_counter() < deadline:
                    await asyncio.sleep(0.001)
                if painted:
                    latencies.append((painted[0] - t0) * 1000)
                await pilot.pause(0.05)
    if not latencies:
        raise RuntimeError("no pushed uniMMR was ever painted")
    return latencies


async def measure(quick: bool) -> dict[str, float]:
    rounds = 15 if quick else 60
    base = await floor(rounds)
    times = await latencies(rounds)
    return {
        "push_latency_ms": statistics.median(times),
        "push_latency_max_ms": max(times),
        "push_painted": len(times),
        "push_rounds": rounds,
        "baseline_ws_roundtrip_ms": statistics.median(base),
    }


if __name__ == "__main__":
    emit(asyncio.run(measure(parse_args(__doc__).quick)))
