"""Does the app fit a free CPU Space (2 vCPU, 16 GB)? Cold start, memory with its models, memory under load.

    nice -n 10 python comparisons/space_fit.py            # the app as shipped, then with one model only

Starts ``python app.py`` as a subprocess held to 2 CPUs (``taskset``) and 2 threads, as on the Space, and
measures: seconds from process start to the UI answering and to the first tag request answered
(``gradio_client``, ``/highlight``), seconds until every model has loaded (``/models``), and the process's
resident memory then; then a load test (several clients tagging and comparing for ``--seconds``) with its
request rate, latencies and peak resident memory. The app loads its models in a background thread at start
(the UI answers before they are all loaded); it has no lazy per-model loading, so the one-model run gives the
floor. Writes comparisons/results/space_fit.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SPACE_RAM_GB, SPACE_CPUS = 16, 2
SCENARIOS = {"four models (as shipped)": [], "one model (SF-SpanDec)": ["SF-SpanDec=data/checkpoints/sf-spandec"]}


class RssWatch:
    """Peak resident memory (MiB) of a process and its children, sampled every 50 ms."""

    def __init__(self, pid: int):
        self.proc, self.peak, self._stop = psutil.Process(pid), 0.0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def now(self) -> float:
        try:
            procs = [self.proc] + self.proc.children(recursive=True)
            return sum(p.memory_info().rss for p in procs) / 2**20
        except psutil.Error:
            return 0.0

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.now())

    def reset(self) -> None:
        self.peak = self.now()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited with {proc.returncode}")
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"app did not answer within {timeout:.0f} s")


def load_test(url: str, names: list[str], texts: list[str], clients: int, seconds: float) -> dict:
    """``clients`` threads, each with its own client, tagging (every 4th request: comparing) for ``seconds``."""
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker(k: int) -> None:
        client = Client(url, verbose=False)
        n = k
        while time.monotonic() < end:
            text = texts[n % len(texts)]
            start = time.perf_counter()
            try:
                if n % 4 == 3:
                    client.predict(text, 0.5, api_name="/compare")
                else:
                    client.predict(text, names[n % len(names)], 0.5, api_name="/highlight")
                with lock:
                    latencies.append(1000 * (time.perf_counter() - start))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
            n += clients

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))]) if latencies else None
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": len(latencies), "errors": len(errors),
            "first_errors": errors[:3], "requests_per_second": round(len(latencies) / elapsed, 2),
            "latency_ms": {"p50": pick(0.5), "p95": pick(0.95),
                           "mean": round(statistics.fmean(latencies)) if latencies else None}}


def measure(models: list[str], args, texts: list[str]) -> dict:
    """Start the app with ``models`` (none: its defaults), time its start, load-test it, stop it."""
    from gradio_client import Client
    from load_test import stop_app  # this folder (scripts run from it)

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads), HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    cmd = ["taskset", "-c", args.cpus, sys.executable, "app.py", "--port", str(port)]
    cmd += ["--models", *models] if models else []
    log = open(Path(args.log_dir) / f"space_fit-{port}.log", "w")
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=args.app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    watch = RssWatch(proc.pid)
    try:
        _wait_http(url, proc, 300)
        ui = time.monotonic() - start
        client = Client(url, verbose=False)
        first_model = models[0].split("=")[0] if models else "SF-SpanDec"
        client.predict(texts[0], first_model, 0.5, api_name="/highlight")
        first = time.monotonic() - start
        table = client.predict(api_name="/models")
        loaded = time.monotonic() - start
        names = [row[0] for row in table["data"] if str(row[-1]).startswith("loaded")]
        rss_loaded, peak_start = watch.now(), watch.peak
        watch.reset()
        load = load_test(url, names, texts, args.clients, args.seconds)
        load["peak_rss_mb"] = round(watch.peak)
        return {"command": " ".join(cmd[3:]), "models": names, "ui_seconds": round(ui, 1),
                "first_answer_seconds": round(first, 1), "all_loaded_seconds": round(loaded, 1),
                "rss_loaded_mb": round(rss_loaded), "peak_rss_start_mb": round(peak_start), "load": load}
    finally:
        watch.stop()
        stop_app(proc)
        log.close()


def markdown(r: dict) -> str:
    """The figures as a Markdown table."""
    lines = [f"## Space fit: `python app.py` on CPUs {r['cpus']} ({r['machine']}), {r['threads']} threads", "",
             f"Free CPU Space: {SPACE_CPUS} vCPU, {SPACE_RAM_GB} GB. Load test: {r['clients']} clients for "
             f"{r['seconds']} s, 3 tag requests to 1 compare request. Load average before: {r['load_average_before']} "
             "(other jobs share the machine).", "",
             "| app | UI up (s) | first answer (s) | all loaded (s) | RSS loaded (MiB) | peak RSS under load (MiB) "
             "| requests/s | p50 / p95 (ms) | errors |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in r["scenarios"].items():
        ld = s["load"]
        lines.append(f"| {name} | {s['ui_seconds']} | {s['first_answer_seconds']} | {s['all_loaded_seconds']} | "
                     f"{s['rss_loaded_mb']} | {ld['peak_rss_mb']} | {ld['requests_per_second']} | "
                     f"{ld['latency_ms']['p50']} / {ld['latency_ms']['p95']} | {ld['errors']} |")
    peak = max(max(s["load"]["peak_rss_mb"], s["peak_rss_start_mb"]) for s in r["scenarios"].values())
    lines += ["", f"Largest resident memory: {peak} MiB, {100 * peak / (SPACE_RAM_GB * 1000):.0f} % of the "
              f"Space's {SPACE_RAM_GB} GB."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpus", default="0,1", help="CPUs the app may use (taskset list, default 0,1)")
    p.add_argument("--threads", type=int, default=SPACE_CPUS, help="torch/OpenMP threads (default 2)")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients in the load test (default 4)")
    p.add_argument("--seconds", type=float, default=30, help="load-test length (default 30)")
    p.add_argument("--app-dir", default=str(ROOT), help="folder holding app.py (e.g. one `spandec space build` wrote)")
    p.add_argument("--only", choices=list(SCENARIOS), default=None, help="run one scenario only")
    p.add_argument("--out", default=str(ROOT / "comparisons" / "results"), help="results folder")
    p.add_argument("--log-dir", default="/tmp", help="where the app's output goes")
    args = p.parse_args(argv)
    sys.path.insert(0, args.app_dir)
    from spandec.app.context import DEFAULT_EXAMPLES, read_examples
    from spandec.benchmark import machine_info

    texts = read_examples(Path(args.app_dir) / DEFAULT_EXAMPLES)
    if not texts:
        p.error(f"{args.app_dir}: no {DEFAULT_EXAMPLES} to send")
    result = {"cpus": args.cpus, "threads": args.threads, "clients": args.clients, "seconds": args.seconds,
              "machine": machine_info()["processor"],
              "load_average_before": round(os.getloadavg()[0], 2), "scenarios": {}}
    for name, models in SCENARIOS.items():
        if args.only in (None, name):
            print(f"[space_fit] {name}", file=sys.stderr, flush=True)
            result["scenarios"][name] = measure(models, args, texts)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "space_fit.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "space_fit.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
