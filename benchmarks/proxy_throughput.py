"""What the desktop proxy costs: one real noVNC stream direct and through Jupyter, side by side.

Launches a real `novnc` desktop (Xvnc + websockify over TLS) on the local Slurm and starts two
JupyterLab servers of its own: one with dcv_widget's server extension, one with
jupyter-server-proxy (the anchor). In one run it prints, for each route to the same desktop:

- throughput of one stream, MB/s (10^6 bytes), and its ratio to the direct route;
- round trip p50/p95 and what the relay adds to it;
- the relaying Jupyter server's CPU seconds per 100 MB relayed (utime + stime of its process,
  from /proc, read before and after);
- N concurrent desktop-like streams (default 20 x 2 MB/s, a busy 1080p desktop): each stream's
  achieved rate and its largest lag behind its schedule.

    runuser -u dcvtest -- env PYTHONPATH=/work/main /opt/dcv-widget/venv/bin/python \\
        benchmarks/proxy_throughput.py [--seconds 5] [--rounds 3] [--streams 20] [--rate 2]

While the e2e tests run, run it as another unprivileged user: their clean-up cancels every
desktop of the test user, this one's too.

What is measured, and why that way:

- The stream is real RFB from the desktop's Xvnc through its websockify, as noVNC gets it: the
  benchmark logs in with the desktop's VNC password and asks for the whole 1920x1080 screen,
  raw-encoded (8.3 MB a frame: no encoder's speed in the figure), asking again once a frame
  has arrived, as noVNC does. The direct route is the one a browser on the node's network
  takes: wss to websockify with its token in the query, verified against the certificate the
  job recorded. Ours is `ws://<lab>/dcv-widget/desktops/<job>/websockify` with Jupyter's token
  header; the proxy adds websockify's token and pins the certificate itself.
- The round trip is RFB's Fence message: TigerVNC answers a Fence request at once with the same
  payload, so it is an echo of small messages through the real websockify and Xvnc (TigerVNC's
  own viewer measures its round trip that way); no stand-in server is involved anywhere.
- The desktop-like streams ask each for a full-width strip (2 MB/s at 20 frames/s is 100 kB a
  frame) on a fixed schedule, all of them to the same desktop (Xvnc shares it), logged in one
  after another (TigerVNC refuses new connections while 5 have not logged in). A stream's lag
  is how late a frame completes after its scheduled request; one that cannot keep up falls
  further behind with every frame, and its achieved rate drops below the target.
- jupyter-server-proxy's `/proxy/<host>:<port>` speaks only http/ws to its upstream (it builds
  `ws://` URLs: no TLS upstream), while the job's websockify speaks TLS only. So its column
  relays a plain-ws websockify that the benchmark starts on loopback for the same Xvnc socket
  (`--unix-target`; the VNC password still guards it), and the "direct ws" row is that
  websockify without a relay. That upstream leg carries no TLS, which ours decrypts: the
  comparison favours jupyter-server-proxy, and the two direct rows show what TLS itself costs.
- jupyter-server-proxy is installed for the benchmark only, into a private folder on the anchor
  server's PYTHONPATH (`--jsp-dir`, default ~/.cache/dcv-widget-benchmarks/jupyter-server-proxy):
  `python -m pip install --no-deps --target DIR jupyter-server-proxy simpervisor` (its other
  requirements, aiohttp and jupyter_server, come from the environment). Never into the
  project's environment, never a dependency. When it cannot be installed (no index), its rows
  say so and the rest runs.
- Routes run in alternating rounds, so a load change on the shared machine touches each alike.
  Client, relays, websockify and Xvnc share this machine's cores: the figures are what one host
  does with all of them, not a network's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from tornado import httpclient, websocket

from dcv_widget.desktops.engines.novnc import vnc_password
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import SessionState
from dcv_widget.desktops.session_file import parse_session_file
from dcv_widget.server.forwarding import pinned_context

sys.path.insert(0, str(Path(__file__).parents[1]))  # the e2e tests' JupyterLab launcher
from tests.e2e.lab import Lab, running_lab

GEOMETRY = (1920, 1080)
MB = 1_000_000
JSP_PACKAGES = ["jupyter-server-proxy", "simpervisor"]
DIRECT_WSS, OURS = "direct wss (job's websockify)", "dcv_widget proxy -> wss"
DIRECT_WS, JSP = "direct ws (plain websockify)", "jupyter-server-proxy -> ws"
DEFAULT_JSP_DIR = Path.home() / ".cache" / "dcv-widget-benchmarks" / "jupyter-server-proxy"

# RFB (RFC 6143) and TigerVNC's Fence extension.
RAW, FENCE_ENCODING = 0, -312
FENCE_REQUEST, FENCE_BLOCK = 0x80000000, 0x3  # BlockBefore | BlockAfter
MSG_UPDATE, MSG_COLOURS, MSG_BELL, MSG_CUT_TEXT, MSG_FENCE = 0, 1, 2, 3, 248


# -- an RFB client over a WebSocket, as noVNC speaks it ---------------------------------------


class RFB:
    """Just enough of a VNC viewer: log in, ask for raw rectangles, send and answer fences."""

    def __init__(self, ws: websocket.WebSocketClientConnection) -> None:
        self.ws = ws
        self.buffer = b""
        self.position = 0
        self.bpp = 4
        self.width = self.height = 0

    async def _more(self) -> None:
        message = await self.ws.read_message()
        if message is None:
            raise ConnectionError(
                f"the stream was closed (code {self.ws.close_code}, {self.ws.close_reason!r})"
            )
        data = message.encode() if isinstance(message, str) else message
        self.buffer = self.buffer[self.position :] + data
        self.position = 0

    async def read(self, size: int) -> bytes:
        while len(self.buffer) - self.position < size:
            await self._more()
        data = self.buffer[self.position : self.position + size]
        self.position += size
        return data

    async def skip(self, size: int) -> None:
        """Consume `size` bytes without copying them (a raw frame's pixels)."""
        while size:
            if self.position == len(self.buffer):
                await self._more()
            taken = min(size, len(self.buffer) - self.position)
            self.position += taken
            size -= taken

    async def send(self, data: bytes) -> None:
        try:
            await self.ws.write_message(data, binary=True)
        except websocket.WebSocketClosedError:
            raise ConnectionError("the stream was closed while sending") from None

    async def log_in(self, password: str) -> None:
        version = await self.read(12)
        if not version.startswith(b"RFB 003."):
            raise ConnectionError(f"not a VNC server: {version!r}")
        await self.send(b"RFB 003.008\n")
        if version == b"RFB 003.003\n":  # only a refusal comes in 3.3: a zero, then why
            refusal = await self.read(4 + 4)
            reason = await self.read(struct.unpack(">I", refusal[4:])[0])
            raise ConnectionError(f"the VNC server refused the connection: {reason.decode()}")
        types = await self.read((await self.read(1))[0])
        if not types:
            reason = await self.read(struct.unpack(">I", await self.read(4))[0])
            raise ConnectionError(f"the VNC server refused the connection: {reason.decode()}")
        if 2 not in types:
            raise ConnectionError(f"the VNC server does not offer VNC authentication: {types!r}")
        await self.send(b"\x02")
        await self.send(des_response(password, await self.read(16)))
        (result,) = struct.unpack(">I", await self.read(4))
        if result:
            raise ConnectionError("the VNC server refused the password")
        await self.send(b"\x01")  # shared: every stream views the same desktop
        self.width, self.height = struct.unpack(">HH", await self.read(4))
        pixel_format = await self.read(16)
        self.bpp = pixel_format[0] // 8
        await self.read(struct.unpack(">I", await self.read(4))[0])  # the desktop's name
        await self.send(struct.pack(">BxHii", 2, 2, RAW, FENCE_ENCODING))

    async def request(self, x: int, y: int, width: int, height: int) -> None:
        """A non-incremental FramebufferUpdateRequest: the region is sent, changed or not."""
        await self.send(struct.pack(">BBHHHH", 3, 0, x, y, width, height))

    async def fence(self, payload: bytes) -> None:
        await self.send(struct.pack(">BxxxIB", MSG_FENCE, FENCE_REQUEST, len(payload)) + payload)

    async def next_event(self) -> tuple[str, int | bytes]:
        """("update", pixel bytes) or ("fence", payload) of our own fence, answering the
        server's fence requests (its congestion control's pings) on the way, as noVNC does."""
        while True:
            kind = (await self.read(1))[0]
            if kind == MSG_UPDATE:
                (count,) = struct.unpack(">xH", await self.read(3))
                pixels = 0
                for _ in range(count):
                    _, _, width, height, encoding = struct.unpack(">HHHHi", await self.read(12))
                    if encoding != RAW:
                        raise ConnectionError(f"unexpected rectangle encoding {encoding}")
                    await self.skip(width * height * self.bpp)
                    pixels += width * height * self.bpp
                return "update", pixels
            if kind == MSG_FENCE:
                flags, size = struct.unpack(">xxxIB", await self.read(8))
                payload = await self.read(size)
                if not flags & FENCE_REQUEST:
                    return "fence", payload
                await self.send(struct.pack(">BxxxIB", MSG_FENCE, flags & FENCE_BLOCK, size))
                await self.send(payload)
            elif kind == MSG_COLOURS:
                (count,) = struct.unpack(">xxxH", await self.read(5))
                await self.skip(count * 6)
            elif kind == MSG_CUT_TEXT:
                await self.skip(struct.unpack(">xxxI", await self.read(7))[0])
            elif kind != MSG_BELL:
                raise ConnectionError(f"unexpected RFB message type {kind}")

    async def frame(self, x: int, y: int, width: int, height: int) -> int:
        await self.request(x, y, width, height)
        while True:
            event, value = await self.next_event()
            if event == "update":
                assert isinstance(value, int)
                return value


def des_response(password: str, challenge: bytes) -> bytes:
    """VNC authentication: the challenge DES-encrypted with the password, each key byte's bits
    reversed (RFB's quirk). Single DES is 3DES with the key three times."""
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


# -- the routes --------------------------------------------------------------------------------


@dataclass
class Route:
    """One way from this client to the desktop's VNC stream, and the server relaying it."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    cert: str | None = None  # wss: the certificate the job recorded
    server_pid: int | None = None  # the relaying Jupyter server
    compared_with: str | None = None  # a relay: the direct route to its upstream

    async def connect(self, password: str) -> RFB:
        request = httpclient.HTTPRequest(
            self.url,
            headers=self.headers,
            ssl_options=pinned_context(self.cert) if self.cert else None,
            connect_timeout=10,
            request_timeout=10,
        )
        ws = await websocket.websocket_connect(
            request, subprotocols=["binary"], max_message_size=64 * MB
        )
        assert ws.protocol is not None
        ws.protocol.set_nodelay(True)  # as browsers have it: small messages leave at once
        rfb = RFB(ws)
        await rfb.log_in(password)
        return rfb


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Throughput:
    bytes: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    rounds: list[float] = field(default_factory=list)  # MB/s of each round


async def throughput_round(route: Route, password: str, seconds: float, into: Throughput) -> None:
    rfb = await route.connect(password)
    await rfb.frame(0, 0, rfb.width, rfb.height)  # warm: the first frame is not timed
    cpu_before = cpu_seconds(route.server_pid) if route.server_pid else 0.0
    received, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        received += await rfb.frame(0, 0, rfb.width, rfb.height)
    elapsed = time.perf_counter() - start
    if route.server_pid:
        into.cpu += cpu_seconds(route.server_pid) - cpu_before
    rfb.ws.close()
    into.bytes += received
    into.seconds += elapsed
    into.rounds.append(received / elapsed / MB)


async def round_trips(route: Route, password: str, count: int) -> list[float]:
    """Fence round trips in ms, one at a time (after a few untimed ones)."""
    rfb = await route.connect(password)
    times = []
    for i in range(count + 10):
        payload = struct.pack(">Q", i)
        start = time.perf_counter()
        await rfb.fence(payload)
        while await rfb.next_event() != ("fence", payload):
            pass
        if i >= 10:
            times.append((time.perf_counter() - start) * 1000)
    rfb.ws.close()
    return times


@dataclass
class Stream:
    rate: float = 0.0  # MB/s achieved
    max_lag: float = 0.0  # ms a frame completed after its scheduled request, at worst


async def paced_stream(
    rfb: RFB, index: int, streams: int, rate: float, fps: float, seconds: float
) -> Stream:
    rows = max(1, round(rate * MB / fps / (rfb.width * rfb.bpp)))
    y = (index * rows) % max(1, rfb.height - rows)
    await rfb.frame(0, y, rfb.width, rows)
    await asyncio.sleep(index / (streams * fps))  # spread the streams' requests over a frame
    start, received, worst = time.perf_counter(), 0, 0.0
    frames = int(seconds * fps)
    for i in range(frames):
        scheduled = start + i / fps
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        received += await rfb.frame(0, y, rfb.width, rows)
        worst = max(worst, time.perf_counter() - scheduled)
    elapsed = max(time.perf_counter() - start, frames / fps)
    rfb.ws.close()
    return Stream(received / elapsed / MB, worst * 1000)


# -- the servers -------------------------------------------------------------------------------


def server_pid(lab: Lab, runtime: Path) -> int:
    """The Jupyter server's process id, from the server file it writes into its runtime folder
    (`jupyter lab` execs the server, but the file says so without assuming it)."""
    port = lab.url.rsplit(":", 1)[1]
    for info in runtime.glob("jpserver-*.json"):
        data = json.loads(info.read_text())
        if str(data.get("port")) == port:
            return int(data["pid"])
    raise RuntimeError(f"no server file for port {port} in {runtime}")


def install_jsp(folder: Path) -> str | None:
    """jupyter-server-proxy in `folder` (installed there if absent); None, or why not."""
    check = [sys.executable, "-c", "import jupyter_server_proxy"]
    env = {**os.environ, "PYTHONPATH": f"{folder}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    if subprocess.run(check, env=env, capture_output=True).returncode == 0:
        return None
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    result = subprocess.run([*install, str(folder), *JSP_PACKAGES], capture_output=True, text=True)
    if result.returncode != 0:
        return "pip could not install it: " + (result.stderr.strip().splitlines() or ["?"])[-1]
    imported = subprocess.run(check, env=env, capture_output=True, text=True)
    if imported.returncode != 0:
        return "it does not import: " + imported.stderr.strip().splitlines()[-1]
    return None


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def plain_websockify(host: str, vnc_socket: Path, log: Path) -> Iterator[int]:
    """websockify without TLS on `host` for the desktop's Xvnc socket: what jupyter-server-proxy
    can relay (it speaks ws only). Ended by its process id on the way out."""
    port = free_port(host)
    with open(log, "w") as out:
        process = subprocess.Popen(
            ["websockify", f"--unix-target={vnc_socket}", f"{host}:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"websockify did not start; see {log}") from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a connection's child still winding down
            process.kill()
            process.wait(timeout=10)


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Desktop:
    job_id: str
    host: str
    port: int
    cert: str
    secret: str
    vnc_socket: Path


@contextmanager
def novnc_desktop(manager: SessionManager) -> Iterator[Desktop]:
    session = manager.launch(
        LaunchRequest(partition="dcv", time="20", geometry="x".join(map(str, GEOMETRY)))
    )
    try:
        ready = manager.wait_for(
            session.key, lambda s: s.state in (SessionState.READY, SessionState.ENDED), 180
        )
        if ready.state != SessionState.READY:
            raise RuntimeError(f"the desktop did not start: {ready.detail}")
        job_id = ready.job_id
        recorded = parse_session_file(Path(manager.paths().session_file(job_id)).read_text())
        endpoint = recorded.endpoint
        assert endpoint.cert, "the job recorded no certificate"
        run = Path(manager.paths().root) / "run" / job_id
        yield Desktop(
            job_id, endpoint.host, endpoint.port, endpoint.cert, recorded.secret,
            run / "vnc.sock",
        )  # fmt: skip
    finally:
        manager.end(session.key).result()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class Figures:
    """One route's figures of the single-stream part."""

    rate: float  # MB/s
    ratio: float  # to the direct route to the same upstream
    rtt: tuple[float, float]  # p50, p95 ms
    added: tuple[float, float] | None  # over the direct route's p50, p95
    cpu: float | None  # the relaying server's CPU seconds per 100 MB


async def measure(routes: list[Route], password: str, args: argparse.Namespace) -> None:
    results = {r.name: Throughput() for r in routes}
    trips: dict[str, list[float]] = {r.name: [] for r in routes}
    for _ in range(args.rounds):
        for route in routes:
            try:
                await throughput_round(route, password, args.seconds, results[route.name])
                trips[route.name] += await round_trips(route, password, args.round_trips)
            except ConnectionError as exc:
                raise ConnectionError(f"{route.name}: {exc}") from exc

    def rtt(name: str) -> tuple[float, float]:
        return percentile(trips[name], 0.5), percentile(trips[name], 0.95)

    figures = {}
    for route in routes:
        result, base = results[route.name], results[route.compared_with or route.name]
        rate = result.bytes / result.seconds / MB
        p50, p95 = rtt(route.name)
        direct = rtt(route.compared_with) if route.compared_with else None
        figures[route.name] = Figures(
            rate,
            rate / (base.bytes / base.seconds / MB),
            (p50, p95),
            (p50 - direct[0], p95 - direct[1]) if direct else None,
            result.cpu / (result.bytes / (100 * MB)) if route.server_pid else None,
        )

    print(
        f"\nOne stream, {GEOMETRY[0]}x{GEOMETRY[1]} raw frames, {args.rounds} alternating rounds "
        f"of {args.seconds:g} s; round trip: {args.rounds} x {args.round_trips} fences; a relay's "
        "ratio and added round trip are against the direct route to its upstream"
    )
    width = max(len(r.name) for r in routes)
    header = (
        f"{'route':{width}} {'MB/s':>7} {'rounds':>9} {'ratio':>6} {'RTT p50':>8} {'p95':>6} "
        f"{'added p50':>10} {'p95':>6} {'CPU s/100MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for route in routes:
        f, rounds = figures[route.name], results[route.name].rounds
        spread = f"{min(rounds):.0f}-{max(rounds):.0f}"
        added = f"{f.added[0]:10.2f} {f.added[1]:6.2f}" if f.added else f"{'-':>10} {'-':>6}"
        cpu = f"{f.cpu:12.2f}" if f.cpu is not None else f"{'-':>12}"
        print(
            f"{route.name:{width}} {f.rate:7.1f} {spread:>9} {f.ratio:6.2f} {f.rtt[0]:8.2f} "
            f"{f.rtt[1]:6.2f} {added} {cpu}"
        )
    if OURS in figures and JSP in figures:
        ours, theirs = figures[OURS], figures[JSP]
        assert ours.cpu is not None and theirs.cpu is not None
        print(
            f"{OURS} / {JSP}: {ours.rate / theirs.rate:.2f}x the throughput, "
            f"{ours.cpu / theirs.cpu:.2f}x the CPU per MB (ours also decrypts TLS upstream)"
        )


async def measure_streams(routes: list[Route], password: str, args: argparse.Namespace) -> None:
    print(
        f"\n{args.streams} concurrent streams x {args.rate:g} MB/s ({args.fps:g} frames/s of "
        f"{args.rate * MB / args.fps / 1000:.0f} kB, a full-width strip), "
        f"{args.stream_seconds:g} s each route"
    )
    results: dict[str, list[Stream]] = {}
    cpu: dict[str, float] = {}
    for route in routes:
        try:
            # One log-in after another: TigerVNC counts each connection not yet logged in
            # against the one address all clients of its unix socket share, and once 5 are
            # pending it refuses every new one for 10 s ("Too many security failures").
            clients = [await route.connect(password) for _ in range(args.streams)]
            before = cpu_seconds(route.server_pid) if route.server_pid else 0.0
            start = time.perf_counter()
            running = (
                paced_stream(rfb, i, args.streams, args.rate, args.fps, args.stream_seconds)
                for i, rfb in enumerate(clients)
            )
            results[route.name] = list(await asyncio.gather(*running))
        except ConnectionError as exc:
            raise ConnectionError(f"{route.name}: {exc}") from exc
        if route.server_pid:
            used = cpu_seconds(route.server_pid) - before
            cpu[route.name] = used / (time.perf_counter() - start) * 100
    names = list(results)
    width = max(26, *(len(n) for n in names))
    print(f"{'stream':>6} " + " ".join(f"{n:>{width}}" for n in names))
    print(f"{'':>6} " + " ".join(f"{'MB/s':>{width - 14}} {'max lag ms':>13}" for _ in names))
    for i in range(args.streams):
        cells = (
            f"{results[n][i].rate:{width - 14}.2f} {results[n][i].max_lag:13.1f}" for n in names
        )
        print(f"{i + 1:>6} " + " ".join(cells))
    for name in names:
        streams = results[name]
        behind = [s for s in streams if s.rate < 0.97 * args.rate]
        print(
            f"{name}: slowest stream {min(s.rate for s in streams):.2f} MB/s, worst lag "
            f"{max(s.max_lag for s in streams):.1f} ms, "
            + (f"{len(behind)} fell behind" if behind else "none fell behind")
            + (f"; relaying server {cpu[name]:.0f}% of a core" if name in cpu else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--round-trips", type=int, default=300, help="fences per round")
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--rate", type=float, default=2.0, help="MB/s of each stream")
    parser.add_argument("--fps", type=float, default=20.0, help="frames/s of each stream")
    parser.add_argument("--stream-seconds", type=float, default=15.0)
    parser.add_argument("--jsp-dir", type=Path, default=DEFAULT_JSP_DIR)
    args = parser.parse_args()
    if os.geteuid() == 0:
        sys.exit("run as an unprivileged user (the desktop is a Slurm job of that user)")

    jsp_missing = install_jsp(args.jsp_dir)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dcv-proxy-bench-")))
        manager = SessionManager(fast_poll=0.5, slow_poll=2.0)
        desktop = stack.enter_context(novnc_desktop(manager))
        ours_home = folder / "ours"
        ours = stack.enter_context(running_lab(folder, ours_home, folder / "ours.log"))
        token = {"Authorization": f"token {ours.token}"}
        routes = [
            Route(
                DIRECT_WSS,
                f"wss://{desktop.host}:{desktop.port}/websockify?token={desktop.secret}",
                cert=desktop.cert,
            ),
            Route(
                OURS,
                f"{ours.url.replace('http', 'ws', 1)}/dcv-widget/desktops/{desktop.job_id}"
                "/websockify",
                token,
                server_pid=server_pid(ours, ours_home / "runtime"),
                compared_with=DIRECT_WSS,
            ),
        ]
        if jsp_missing is None:
            plain = stack.enter_context(
                plain_websockify(desktop.host, desktop.vnc_socket, folder / "websockify.log")
            )
            jsp_home = folder / "jsp"
            (jsp_home / "config").mkdir(parents=True)
            (jsp_home / "config" / "jupyter_server_config.json").write_text(
                json.dumps(
                    {
                        "ServerApp": {"jpserver_extensions": {"jupyter_server_proxy": True}},
                        "ServerProxy": {"host_allowlist": [desktop.host]},
                    }
                )
            )
            path = os.pathsep.join(filter(None, [str(args.jsp_dir), os.environ.get("PYTHONPATH")]))
            jsp = stack.enter_context(
                running_lab(
                    folder, jsp_home, folder / "jsp.log", {**os.environ, "PYTHONPATH": path}
                )
            )
            routes += [
                Route(DIRECT_WS, f"ws://{desktop.host}:{plain}/websockify"),
                Route(
                    JSP,
                    f"{jsp.url.replace('http', 'ws', 1)}/proxy/{desktop.host}:{plain}/websockify",
                    {"Authorization": f"token {jsp.token}"},
                    server_pid=server_pid(jsp, jsp_home / "runtime"),
                    compared_with=DIRECT_WS,
                ),
            ]
        print(f"desktop: job {desktop.job_id}, Xvnc {GEOMETRY[0]}x{GEOMETRY[1]}, websockify "
              f"{desktop.host}:{desktop.port} (TLS); this machine: {os.cpu_count()} CPUs, load "
              f"average {os.getloadavg()[0]:.2f}")  # fmt: skip
        password = vnc_password(desktop.secret)
        try:
            asyncio.run(measure(routes, password, args))
            stream_routes = [r for r in routes if r.name != DIRECT_WS]
            asyncio.run(measure_streams(stream_routes, password, args))
        except ConnectionError as exc:
            job = desktop.vnc_socket.parent  # the job's logs hide its token
            for log in (job / "xvnc.log", job / "websockify.log"):
                if log.exists():
                    print(f"--- the end of {log}:", *log.read_text().splitlines()[-6:], sep="\n")
            sys.exit(
                f"a stream broke: {exc}. If Xvnc's log above says 'Server shutdown', the desktop's "
                f"job {desktop.job_id} was cancelled meanwhile (the e2e tests' clean-up cancels "
                "every desktop of the test user): run again when no tests run"
            )
    if jsp_missing is not None:
        print(
            f"\njupyter-server-proxy: skipped, {jsp_missing}. Get it for the benchmark only with "
            f"`{sys.executable} -m pip install --no-deps --target {args.jsp_dir} "
            f"{' '.join(JSP_PACKAGES)}`"
        )


if __name__ == "__main__":
    main()
