"""Helpers shared by the web-app tests: tiny random models, a gold CoNLL file, stored results (no tests here)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

LABELS = ["LOC", "PER"]
TEXT_EXAMPLE = "Maria Rossi flew from Milan to Toronto on Monday to meet engineers at the University of Waterloo."

# Sentences written for these tests, with gold tags.
GOLD = [
    ("Maria Rossi flew to Toronto .", "B-PER I-PER O O B-LOC O"),
    ("Kofi Mensah lives in Accra .", "B-PER I-PER O O B-LOC O"),
    ("The team left Geneva on Monday .", "O O O B-LOC O O O"),
    ("Aiko Tanaka met Peter in Kyoto .", "B-PER I-PER O B-PER O B-LOC O"),
    ("Rain is expected in Helsinki and Oslo .", "O O O O B-LOC O B-LOC O"),
    ("Nobody was there .", "O O O O"),
]


def build_tiny_models(encoder: str, root: Path) -> dict[str, str]:
    """Save a tiny token, PL-Marker and SF-SpanDec model on ``encoder`` under ``root``; strategy -> folder."""
    from spandec import new_model

    out = {}
    for strategy in ("token", "pl-marker", "sf-spandec"):
        torch.manual_seed(1)
        model = new_model(strategy, LABELS, encoder)
        model.save_pretrained(root / strategy)
        out[strategy] = str(root / strategy)
    return out


def model_args(paths: dict[str, str], broken: str | None = None) -> list[str]:
    """``NAME=PATH`` specs of the tiny models (SpanDec = the SF weights at threshold 0), plus a broken one."""
    specs = [f"Token={paths['token']}", f"PL-Marker={paths['pl-marker']}", f"SpanDec={paths['sf-spandec']}@0",
             f"SF-SpanDec={paths['sf-spandec']}"]
    return specs + ([f"Broken={broken}"] if broken else [])


def unit_context(paths: dict[str, str], tmp_path_factory):
    """The callbacks' AppContext of the unit tests: the tiny models plus one broken spec, small limits, no stored
    results (``missing.json``)."""
    from spandec.app.context import AppContext, Limits
    from spandec.app.pool import ModelPool, parse_specs

    pool = ModelPool.load(parse_specs(model_args(paths, broken="/nonexistent/model")), log=lambda m: None)
    c = AppContext(pool, limits=Limits(max_chars=2000, max_file_chars=3000, max_upload_bytes=20_000, max_upload_texts=50),
                   examples=[TEXT_EXAMPLE, "Kofi Mensah lives in Accra."], workdir=tmp_path_factory.mktemp("work"))
    c.results_path = tmp_path_factory.mktemp("res") / "missing.json"
    c.latency_sample = 4
    return c


def write_gold(path: Path, repeat: int = 1) -> Path:
    """A small gold CoNLL file (``word tag`` lines)."""
    lines = []
    for _ in range(repeat):
        for words, tags in GOLD:
            lines += [f"{w} {t}" for w, t in zip(words.split(), tags.split())] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_results(path: Path) -> Path:
    """Stored comparison results in the comparison scripts' schema (some keys left out on purpose)."""
    data = {
        "dataset": "conllpp", "split": "test",
        "strategies": {
            "token": {"f1": 91.2, "throughput": {"batch8": {"median": 400.0}}, "latency_ms": {"batch1": {"p50": 6.0}},
                      "gflops": {"paper_S44_M324": 1.9, "measured": 1.95}},
            "pl-marker": {"f1": 92.0, "throughput": {"batch8": {"median": 40.0}}, "throughput_batch32": 50.0},
            "spandec": {"f1": 92.4, "throughput": {"batch8": {"median": 300.0}}, "gflops": 2.9},
            "sf-spandec": {"f1": 92.3, "throughput": {"batch8": {"median": 350.0}}},
        },
        "sf_sweep": [
            {"threshold": 0.0, "kept_fraction": 1.0, "f1": 92.4, "samples_per_second": 300.0},
            {"threshold": 0.5, "kept_fraction": 0.2, "f1": 92.3, "samples_per_second": 350.0},
            {"threshold": 0.9, "kept_fraction": 0.05, "f1": 85.0, "samples_per_second": 380.0},
            {"threshold": "bad"},
        ],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _load_test():
    """comparisons/load_test.py, whose start_app/stop_app the tests share."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("load_test", Path(__file__).resolve().parent.parent / "comparisons"
                                                  / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    return _load_test().free_port()


def start_app(args: list[str], log_path: Path, timeout: float = 120.0):
    """Start ``python app.py ARGS --port P`` and wait until it answers; returns ``(process, url)``.

    Fails the test (with the end of the log) when the app exits or does not answer within ``timeout``.
    """
    import time

    import pytest

    lt, start = _load_test(), time.monotonic()
    port = lt.free_port()
    try:
        proc = lt.start_app(Path(__file__).resolve().parent.parent / "app.py", port, args, log_path, timeout)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    print(f"app answered after {time.monotonic() - start:.1f} s")
    return proc, f"http://127.0.0.1:{port}/"


def stop_app(proc) -> None:
    """Terminate the app (kill it if it does not stop in time)."""
    _load_test().stop_app(proc)
