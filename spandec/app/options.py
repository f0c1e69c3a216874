"""The app's command-line options, and the context (served models, limits, paths) built from them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import gpu
from ..argtypes import precision
from ..store import default_db
from .context import DEFAULT_EXAMPLES, DEFAULT_RESULTS, AppContext, Limits, read_examples
from .pool import ModelPool, resolve_specs

__all__ = ["parse_args", "make_context"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the app."""
    p = argparse.ArgumentParser(description="SpanDec web app")
    p.add_argument("--models", nargs="+", action="extend", metavar="NAME=PATH[@THRESHOLD]",
                   help="models to serve: local folders or Hub ids (default: $SPANDEC_MODELS, else data/checkpoints/*)")
    p.add_argument("--config", help="JSON or TOML file listing the models (see README)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or $GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, default=None, help="port (default 7860, or $GRADIO_SERVER_PORT)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--precision", default="auto", type=precision,
                   help="how the encoders run: fp32, bf16, int8, onnx, onnx-int8, or auto (default: the fastest form "
                        "within 0.3 F1 of fp32 in comparisons/results/serving.md: on CPU onnx-int8 for token, "
                        "SpanDec and SF-SpanDec, bf16 for PL-Marker on CPUs with native bfloat16; fp32 on CUDA). A spec's #PRECISION overrides it")
    p.add_argument("--results", default=None, help="stored results JSON (default comparisons/results/conllpp.json)")
    p.add_argument("--examples", default=None, help="example texts, one per line (default data/examples.txt)")
    p.add_argument("--max-chars", type=int, default=10_000, help="longest text the interactive views accept")
    p.add_argument("--max-file-chars", type=int, default=200_000,
                   help="longest text of a tagged file (tagged window by window, with progress)")
    p.add_argument("--latency-sample", type=int, default=32, help="sentences timed per model in the trade-off view")
    p.add_argument("--concurrency", type=int, default=8,
                   help="light requests processed at once (default 8; long jobs run one at a time besides)")
    p.add_argument("--request-seconds", type=float, default=Limits.request_seconds,
                   help="estimated model time one interactive request may take (default %(default)s)")
    p.add_argument("--job-seconds", type=float, default=Limits.job_seconds,
                   help="estimated model time one file job may take (default %(default)s)")
    p.add_argument("--cpu-speed", type=float, default=1.0,
                   help="this machine's speed relative to the 2-core reference of the cost model (default 1)")
    p.add_argument("--db", default=None, help="annotation database: SQLite file or SQLAlchemy URL "
                   f"(default $SPANDEC_DB, else {default_db()})")
    p.add_argument("--auth", default=None, metavar="FILE",
                   help="users file (`spandec users add FILE NAME --role admin|annotator`): users log in, the annotator "
                        "is the logged-in user, only admins create projects, export and fine-tune")
    p.add_argument("--db-timeout", type=float, default=10.0, help="seconds to wait for a locked database (default 10)")
    return p.parse_args(argv)


def make_context(args: argparse.Namespace, root: str | Path = ".") -> AppContext:
    """Load the models and build the callbacks' context from parsed options; relative paths are found under ``root``
    (the app's folder)."""
    root = Path(root)
    specs = resolve_specs(args.models, args.config)
    device = gpu.select_device(args.device)
    pool = ModelPool.load(specs, device=device, log=lambda m: print(m, file=sys.stderr, flush=True),
                          background=True, base=root, precision=args.precision)
    limits = Limits(max_chars=args.max_chars, max_file_chars=max(args.max_chars, args.max_file_chars),
                    request_seconds=args.request_seconds, job_seconds=args.job_seconds,
                    cpu_speed=args.cpu_speed)
    ctx = AppContext(pool, limits=limits,
                     examples=read_examples(args.examples or root / DEFAULT_EXAMPLES),
                     results_path=Path(args.results) if args.results else root / DEFAULT_RESULTS,
                     runtime=gpu.describe(device))
    ctx.latency_sample = max(1, args.latency_sample)
    return ctx
