"""Single-candidate ``POST /v1/cost`` under 20 concurrent clients (issue #15: p95 <= 20 ms), measured with a
load generator that costs little CPU.

The Python harness of ``benchmarks/plan_speed.py`` (20 threads of httpx) takes about as much CPU per request
as the server does, on a 2-core machine the same cores. Here the clients are ``wrk`` (C, one thread, an
event loop; 20 connections sending back to back) and ``hey`` (Go; 20 workers at 5 requests/s each; its
rate limit ticks in phase, so that is 20 requests at once, 5 times a second: the worst an open load of
100 requests/s can arrive), pinned to core 0 with ``taskset`` while one API process runs on core 1 (two
API processes share both cores). The same clients against ``GET /healthz`` (no work: the framework, the middlewares and
the socket) are the floor, and the old Python harness's figure is measured in the same run. Each line
also gives the server's CPU time per request (``/proc``), which other jobs on the machine inflate less
than latencies.

Without ``wrk`` or ``hey`` (``apt-get install wrk hey``) their lines fall back to the Python harness.

Run: ``.venv/bin/python benchmarks/cost_latency.py`` (``--seconds N`` per measurement, default 10).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.plan_speed import _quantiles, concurrent_latencies, cost_body, real_server  # noqa: E402

CLIENTS = 20
RATE_PER_CLIENT = 5  # requests/s each: the open load of plan_speed.py (100 requests/s in all)
WRK_SCRIPT = """
wrk.method = os.getenv("WRK_METHOD")
if wrk.method == "POST" then
  wrk.headers["Content-Type"] = "application/json"
  local f = io.open(os.getenv("WRK_BODY"), "r"); wrk.body = f:read("*a"); f:close()
end
done = function(summary, latency, requests)
  local failed = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %d %d %d %.6f %.6f %.6f\\n", summary.requests, failed, summary.errors.status,
    latency:percentile(50) / 1e6, latency:percentile(95) / 1e6, latency:percentile(99) / 1e6))
end
"""


def _pin(cpu: str) -> list[str]:
    """``taskset -c cpu`` on a machine with two cores or more (and taskset), else nothing."""
    return ["taskset", "-c", cpu] if (os.cpu_count() or 1) >= 2 and shutil.which("taskset") else []


@contextmanager
def server(data_dir: Path, processes: int) -> Iterator[tuple[str, int]]:
    """``tunecast serve --no-worker``: one process pinned to core 1, or ``processes`` on every core."""
    pin = _pin("1") if processes == 1 else []
    with real_server(data_dir, "--workers", str(processes), prefix=pin) as served:
        yield served


def _cpu_s(server_pid: int) -> float:
    """User + system CPU seconds so far of the server and its API processes (``--workers N``)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    total = 0
    for pid in [server_pid, *map(int, children)]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, body_file: Path | None, *, seconds: int) -> tuple[int, int, list[float]] | None:
    """(requests, failures, [p50, p95, p99] s) of ``wrk``: 20 connections back to back; None without wrk."""
    if shutil.which("wrk") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        env = {**os.environ, "WRK_METHOD": "POST" if body_file else "GET", "WRK_BODY": str(body_file or "")}
        target = f"{url}/v1/cost" if body_file else f"{url}/healthz"
        command = [*_pin("0"), "wrk", "-t1", f"-c{CLIENTS}", f"-d{seconds}s", "-s", script.name, target]
        output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    n, failed, non_2xx, *quantiles = re.findall(r"RESULT (.*)", output)[0].split()
    return int(n), int(failed) + int(non_2xx), [float(q) for q in quantiles]


def hey(url: str, body_file: Path | None, *, seconds: int) -> tuple[int, int, list[float]] | None:
    """The same of ``hey``: 20 workers at RATE_PER_CLIENT requests/s each (in phase); None without hey."""
    if shutil.which("hey") is None:
        return None
    command = [*_pin("0"), "hey", "-z", f"{seconds}s", "-c", str(CLIENTS), "-q", str(RATE_PER_CLIENT), "-o", "csv"]
    command += (
        ["-m", "POST", "-T", "application/json", "-D", str(body_file), f"{url}/v1/cost"]
        if body_file
        else [f"{url}/healthz"]
    )
    rows = subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    latencies = sorted(float(row.split(",")[0]) for row in rows if row)
    failed = sum(1 for row in rows if row and not row.split(",")[6].startswith("2"))

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    return len(latencies), failed, [q(0.50), q(0.95), q(0.99)]


def _quantile_text(quantiles: list[float]) -> str:
    return ", ".join(f"p{p} {s * 1e3:.1f} ms" for p, s in zip((50, 95, 99), quantiles, strict=True))


def measure(url: str, pid: int, body_file: Path, *, seconds: int, processes: int) -> None:
    single = json.loads(body_file.read_text())
    where = f"{processes} API process{'es' if processes > 1 else ''}"
    for label, tool in (
        ("wrk, 20 connections back to back", wrk),
        (f"hey, 20 clients x {RATE_PER_CLIENT}/s in phase", hey),
    ):
        lines = []
        for route, body in (("POST /v1/cost", body_file), ("GET /healthz", None)):
            started = _cpu_s(pid)
            result = tool(url, body, seconds=seconds)
            if result is None:
                print(f"{where}, {label}: {tool.__name__} not installed (the Python harness's lines follow)")
                break
            n, failed, quantiles = result
            cpu_ms = (_cpu_s(pid) - started) / n * 1e3
            lines.append(
                f"{route} {_quantile_text(quantiles)} ({n / seconds:.0f}/s, {failed} failed, {cpu_ms:.2f} ms CPU)"
            )
        if lines:
            print(f"{where}, {label} (load average {os.getloadavg()[0]:.1f}): {'; '.join(lines)}")
    for label, interval in (("back to back", 0.0), (f"each sending {RATE_PER_CLIENT} requests/s", 1 / RATE_PER_CLIENT)):
        requests = int(seconds / max(interval, 0.05)) * CLIENTS // 2
        cost = concurrent_latencies(url, single, clients=CLIENTS, requests=requests, interval_s=interval)
        floor = concurrent_latencies(url, None, clients=CLIENTS, requests=requests, interval_s=interval)
        print(
            f"{where}, Python harness (plan_speed.py), 20 threads {label} (load average {os.getloadavg()[0]:.1f}): "
            f"POST /v1/cost {_quantiles(cost)}; GET /healthz {_quantiles(floor)}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    args = parser.parse_args()
    print(f"goal: single-candidate POST /v1/cost p95 <= 20 ms at {CLIENTS} clients; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "single.json"
        body_file.write_text(json.dumps(cost_body(1, seed=7)))
        for processes in (1, 2):
            with server(Path(tmp) / f"server{processes}", processes) as (url, pid):
                concurrent_latencies(url, json.loads(body_file.read_text()), clients=4, requests=200)  # warm
                measure(url, pid, body_file, seconds=args.seconds, processes=processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
