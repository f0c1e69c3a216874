"""Load test of the web app: one heavy client, several light ones, through gradio_client.

Starts ``python app.py`` (the shipped checkpoints in data/checkpoints, or ``--models``) on a free port. The
heavy client sends, to every served model in turn, the largest text the app accepts: a ``--heavy-chars``
text (default 10,000 characters, the interactive limit), and when the app refuses it as over budget, as
many words as the refusal says fit. Meanwhile ``--light-clients`` clients each tag one sentence at a time
(models taken in turn) until the heavy client is done. Prints and writes (``--out``) a JSON report: per model
the heavy request's seconds and words, and the light requests' count, p50, p95 and max seconds.

    python comparisons/load_test.py                         # this checkout's app
    python comparisons/load_test.py --app /path/to/other/app.py --out before.json   # another version

Goal: the light clients' p95 under 2 s while the heavy client runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FITS = re.compile(r"takes at most about ([\d,]+) words")


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(app: Path, port: int, extra: list[str], log: Path, timeout: float = 300) -> subprocess.Popen:
    """``python app.py --port PORT ...`` in the app's folder; returns once it answers HTTP (RuntimeError, with the
    end of its log, when it exits or stays silent)."""
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=str(app.parent))
    with open(log, "a") as out:  # appended: a restarted app keeps one log
        proc = subprocess.Popen([sys.executable, str(app), "--port", str(port), *extra], cwd=app.parent, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited with {proc.returncode}:\n{Path(log).read_text()[-3000:]}")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    stop_app(proc)
    raise RuntimeError(f"app did not answer within {timeout:.0f} s:\n{Path(log).read_text()[-3000:]}")


def stop_app(proc: subprocess.Popen) -> None:
    """Stop the app: terminate, then kill if it lingers."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def texts() -> tuple[list[str], str]:
    """Sentences to build texts from (the app's examples) and one light sentence."""
    lines = [x.strip() for x in (ROOT / "data" / "examples.txt").read_text(encoding="utf-8").splitlines()
             if x.strip() and not x.startswith("#")]
    return lines, lines[0]


def heavy_text(sentences: list[str], chars: int | None = None, words: int | None = None) -> str:
    """Sentences repeated to ``chars`` characters, or to ``words`` words."""
    out: list[str] = []
    k = 0
    while True:
        nxt = sentences[k % len(sentences)]
        if chars is not None and len(" ".join(out + [nxt])) > chars:
            break
        if words is not None and sum(len(s.split()) for s in out) + len(nxt.split()) > words:
            break
        out.append(nxt)
        k += 1
    return " ".join(out)


def percentiles(values: list[float]) -> dict:
    """Count, p50 and p95 (seconds) of some latencies."""
    v = sorted(values)
    pick = lambda f: round(v[min(len(v) - 1, int(f * len(v)))], 3) if v else None
    return {"n": len(v), "p50": pick(0.5), "p95": pick(0.95)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--app", default=str(ROOT / "app.py"), help="app.py to start (default: this checkout's)")
    p.add_argument("--models", nargs="*", default=[], help="passed to app.py --models (default: its defaults)")
    p.add_argument("--light-clients", type=int, default=5, help="clients tagging one sentence each (default 5)")
    p.add_argument("--heavy-chars", type=int, default=10_000, help="size of the heavy text tried first (default 10,000)")
    p.add_argument("--heavy-timeout", type=float, default=900, help="seconds one heavy request may take (default 900)")
    p.add_argument("--out", default=None, help="write the JSON report here")
    args = p.parse_args(argv)

    from gradio_client import Client
    from gradio_client.exceptions import AppError

    app = Path(args.app).resolve()
    port = free_port()
    log = Path(args.out or "load_test").with_suffix(".app.log")
    try:
        proc = start_app(app, port, ["--models", *args.models] if args.models else [], log)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    url = f"http://127.0.0.1:{port}/"
    try:
        heavy_client = Client(url, verbose=False, analytics_enabled=False)
        table = heavy_client.predict(api_name="/models")
        rows = table["data"] if isinstance(table, dict) else table
        models = [r[0] for r in rows if str(r[-1]).startswith("loaded")]
        sentences, light = texts()
        done = threading.Event()
        light_times: list[float] = []
        light_log: list[tuple[float, str, float]] = []  # (start, model, seconds)
        phases: list[tuple[str, float, float]] = []  # (heavy model, start, end)
        errors: list[str] = []

        def light_client(k: int) -> None:
            c = Client(url, verbose=False, analytics_enabled=False)
            n = k
            while not done.is_set():
                start = time.perf_counter()
                try:
                    c.predict(light, models[n % len(models)], 0.5, api_name="/highlight")
                    light_times.append(time.perf_counter() - start)
                    light_log.append((start, models[n % len(models)], light_times[-1]))
                except Exception as exc:  # noqa: BLE001 - reported
                    errors.append(f"{type(exc).__name__}: {exc}")
                n += 1
                time.sleep(0.2)

        for m in models:  # warm every model before timing
            heavy_client.predict(light, m, 0.5, api_name="/highlight")
        threads = [threading.Thread(target=light_client, args=(k,), daemon=True) for k in range(args.light_clients)]
        for t in threads:
            t.start()
        time.sleep(2)
        heavy: dict[str, dict] = {}
        for m in models:
            text = heavy_text(sentences, chars=args.heavy_chars)
            try:
                start = time.perf_counter()
                job = heavy_client.submit(text, m, 0.5, api_name="/highlight")
                job.result(timeout=args.heavy_timeout)
            except AppError as exc:
                fit = FITS.search(str(exc))
                if not fit:
                    heavy[m] = {"error": str(exc)}
                    continue
                text = heavy_text(sentences, words=int(fit.group(1).replace(",", "")))
                start = time.perf_counter()
                heavy_client.submit(text, m, 0.5, api_name="/highlight").result(timeout=args.heavy_timeout)
            except TimeoutError:
                heavy[m] = {"error": f"over {args.heavy_timeout:.0f} s", "chars": len(text), "words": len(text.split())}
                continue
            phases.append((m, start, time.perf_counter()))
            heavy[m] = {"seconds": round(time.perf_counter() - start, 2), "chars": len(text), "words": len(text.split())}
            print(f"heavy {m}: {heavy[m]}", file=sys.stderr, flush=True)
        done.set()
        for t in threads:
            t.join(60)
        for m, a, b in phases:  # light requests started while this heavy request ran: p95, by the light model
            during = [(lm, s) for t, lm, s in light_log if a <= t < b]
            heavy[m]["light_during"] = {lm: percentiles([s for x, s in during if x == lm]) for lm in models}
        report = {"app": str(app), "light_clients": args.light_clients, "heavy": heavy,
                  "light": {**percentiles(light_times), "max": round(max(light_times), 3) if light_times else None,
                            "mean": round(statistics.fmean(light_times), 3) if light_times else None,
                            "errors": len(errors), "first_errors": errors[:3]},
                  "goal": "light p95 under 2 s", "met": bool(light_times) and percentiles(light_times)["p95"] < 2.0 and not errors}
    finally:
        stop_app(proc)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
