"""Serving-cost measurements: throughput, latency, FLOPs counted on real batches, peak memory,
and the SF-SpanDec threshold sweep. All strategies are measured in one process, alternating."""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from typing import Callable, Mapping, Sequence

import torch

from .data import Sentence
from .evaluation import predict_tags_with_stats, score
from .flops import count_flops
from .spans import Document


def _run(model, docs: Sequence[Document], batch_size: int, options: Mapping) -> None:
    model.predict_candidates(docs, batch_size=batch_size, **options)
    if model.device.type == "cuda":
        torch.cuda.synchronize()


def throughput(models: Mapping[str, tuple], sentences: Sequence[Sentence], batch_size: int = 8, rounds: int = 3,
               warmup: int = 16, clock: Callable[[], float] = time.perf_counter) -> dict[str, dict]:
    """Samples/s of each ``name -> (model, options)`` over all ``sentences``, alternating models each round.

    ``clock``: wall time by default; ``time.process_time`` (CPU time) on a shared machine with one thread."""
    docs = [Document.from_input(s.words) for s in sentences]
    runs: dict[str, list[float]] = {name: [] for name in models}
    for model, options in models.values():  # warm-up: allocator, kernels, caches
        _run(model, docs[:warmup], batch_size, options)
    for _ in range(rounds):
        for name, (model, options) in models.items():
            start = clock()
            _run(model, docs, batch_size, options)
            runs[name].append(len(docs) / (clock() - start))
    return {
        name: {"median": round(statistics.median(v), 1), "min": round(min(v), 1), "max": round(max(v), 1),
               "rounds": [round(x, 1) for x in v], "batch_size": batch_size, "samples": len(docs)}
        for name, v in runs.items()
    }


def latency(model, sentences: Sequence[Sentence], batch_size: int = 1, limit: int = 300,
            clock: Callable[[], float] = time.perf_counter, **options) -> dict:
    """Per-call latency (ms) over batches of ``batch_size`` sentences: p50, p95, mean (``clock`` as in :func:`throughput`)."""
    docs = [Document.from_input(s.words) for s in sentences[: limit * batch_size]]
    _run(model, docs[: 4 * batch_size], batch_size, options)
    times = []
    for b in range(0, len(docs), batch_size):
        start = clock()
        _run(model, docs[b : b + batch_size], batch_size, options)
        times.append(1000 * (clock() - start))
    times.sort()
    pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 2)
    return {"p50": pick(0.5), "p95": pick(0.95), "mean": round(statistics.fmean(times), 2), "calls": len(times),
            "batch_size": batch_size}


def measured_gflops(model, sentences: Sequence[Sentence], batch_size: int = 8, **options) -> dict:
    """FLOPs counted by torch's FlopCounterMode on the real batches, per sentence (GFLOPs)."""
    docs = [Document.from_input(s.words) for s in sentences]
    total = count_flops(_run, model, docs, batch_size, options)
    return {"per_sentence": round(total / max(len(docs), 1) / 1e9, 4), "sentences": len(docs)}


def average_sizes(model, sentences: Sequence[Sentence]) -> dict:
    """This data's average subword length S (special tokens included) and span queries M (2 per candidate span)."""
    s_total, spans = 0, 0
    for sent in sentences:
        for win in model.windows(sent.words):
            s_total += len(win.input_ids)
            n = len(win.word_first)
            spans += sum(min(model.config.max_span_words, n - i) for i in range(*win.core))
    n = max(len(sentences), 1)
    return {"S": round(s_total / n, 2), "M": round(2 * spans / n, 2), "spans": round(spans / n, 2)}


def peak_memory_mb(fn: Callable[[], object], device: torch.device) -> float:
    """Peak memory while ``fn`` runs: CUDA allocator peak, or the process RSS peak above the start on CPU."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    page = os.sysconf("SC_PAGE_SIZE")
    rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
    base, peak, done = rss(), [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return round(max(peak[0] - base, 0) / 2**20, 1)


def sf_sweep(model, sentences: Sequence[Sentence], thresholds: Sequence[float], batch_size: int = 8) -> list[dict]:
    """For each SF threshold: % of candidate spans decoded, F1, and throughput (samples/s)."""
    gold = [s.tags for s in sentences]
    rows = []
    for t in thresholds:
        start = time.perf_counter()
        pred, stats = predict_tags_with_stats(model, sentences, batch_size=batch_size, threshold=t)
        seconds = time.perf_counter() - start
        rows.append({
            "threshold": t,
            "kept_fraction": round(stats.decoded / max(stats.candidates, 1), 4),
            "f1": score(gold, pred)["f1"],
            "samples_per_second": round(len(sentences) / seconds, 1),
        })
    return rows


def machine_info() -> dict:
    """Where the figures were measured: CPU/GPU, threads, library versions."""
    import transformers

    info = {
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
