"""Serving-cost measurements: throughput, latency, FLOPs counted on real batches, peak memory,
and the SF-SpanDec threshold sweep. All strategies are measured in one process, interleaved batch by batch."""

from __future__ import annotations

import math
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
               warmup: int = 16, clock: str | Callable[[], float] = time.perf_counter) -> dict[str, dict]:
    """Samples/s of each ``name -> (model, options)`` in each of ``rounds`` passes over all ``sentences`` (models
    interleaved batch by batch, :func:`interleaved`), with their median, min and max; ``clock`` as there."""
    n_batches = max(1, -(-len(sentences) // batch_size))
    res = interleaved(models, sentences, batch_size=batch_size, batches_per_round=n_batches, passes=rounds,
                      warmup_batches=max(1, warmup // batch_size), clock=clock)
    return {name: {**round_summary(r), "rounds": r["per_round"], "batch_size": batch_size, "samples": len(sentences)}
            for name, r in res["models"].items()}


def round_summary(row: Mapping) -> dict[str, float]:
    """Median, min and max samples/s over the rounds of one :func:`interleaved` row: the keys results files store
    and readers (the app's trade-off view, model cards) use."""
    return {"median": row["round_median"], "min": row["round_min"], "max": row["round_max"]}


def strategy_of(name: str) -> str:
    """The strategy of a stored results key: ``spandec`` for ``spandec`` and for older ``spandec (sf-spandec@0)``."""
    return name.split(" (", 1)[0].strip()


def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    """25th, 50th and 75th percentile (linear interpolation)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def interleaved(models: Mapping[str, tuple], sentences: Sequence[Sentence], batch_size: int = 8,
                batches_per_round: int = 4, passes: int = 1, warmup_batches: int = 4, repeats: int = 1,
                baseline: str | None = None, clock: str | Callable[[], float] = "wall") -> dict:
    """Throughput of each ``name -> (model, options)`` measured so that ratios between models hold.

    The models take turns batch by batch (A's batch k, B's batch k, ..., the order rotated every turn), so
    a slower or busier machine slows them alike; each batch runs ``repeats`` times per model (in turns) and
    its fastest run counts (other jobs only ever add time); ``batches_per_round`` batches make one short
    round. Per model: samples/s over everything and per round; per model and round the ratio to ``baseline``
    (default: the first model), reported as median and interquartile range over the rounds.
    ``clock="cpu"`` (or ``time.process_time``) times the process's CPU time instead of wall time: on a machine
    shared with other jobs (with one torch thread) it leaves out the time the process waits for a core.
    """
    timer = clock if callable(clock) else {"wall": time.perf_counter, "cpu": time.process_time}.get(clock)
    if timer is None:
        raise ValueError(f"clock must be 'wall' or 'cpu', not {clock!r}")
    clock = clock if isinstance(clock, str) else getattr(clock, "__name__", "custom")
    if not models:
        raise ValueError("no models to measure")
    if batch_size < 1 or batches_per_round < 1 or passes < 1 or repeats < 1:
        raise ValueError("batch_size, batches_per_round, passes and repeats must be at least 1")
    names = list(models)
    baseline = baseline or names[0]
    if baseline not in models:
        raise ValueError(f"baseline {baseline!r} is not one of the measured models: {', '.join(names)}")
    docs = [Document.from_input(s.words) for s in sentences]
    if not docs:
        raise ValueError("no sentences to measure on")
    batches = [docs[b : b + batch_size] for b in range(0, len(docs), batch_size)]
    for k in range(min(warmup_batches, len(batches))):  # warm-up: allocator, kernels, caches
        for model, options in models.values():
            _run(model, batches[k], batch_size, options)
    seconds = {n: 0.0 for n in names}
    samples = 0
    per_round: dict[str, list[float]] = {n: [] for n in names}  # samples/s per round
    turn = 0
    for _ in range(passes):
        for r in range(0, len(batches), batches_per_round):
            spent = {n: 0.0 for n in names}
            n_samples = 0
            for batch in batches[r : r + batches_per_round]:
                best = {n: math.inf for n in names}
                for _ in range(repeats):
                    order = names[turn % len(names):] + names[: turn % len(names)]
                    turn += 1
                    for name in order:
                        model, options = models[name]
                        start = timer()
                        _run(model, batch, batch_size, options)
                        best[name] = min(best[name], timer() - start)
                for n in names:
                    spent[n] += best[n]
                n_samples += len(batch)
            samples += n_samples
            for n in names:
                seconds[n] += spent[n]
                per_round[n].append(n_samples / max(spent[n], 1e-9))
    out: dict = {"baseline": baseline, "batch_size": batch_size, "samples": len(docs), "passes": passes,
                 "repeats": repeats, "clock": clock, "torch_threads": torch.get_num_threads(),
                 "rounds": len(per_round[baseline]), "batches_per_round": batches_per_round, "models": {}}
    for n in names:
        ratios = [a / b for a, b in zip(per_round[n], per_round[baseline])]
        q1, med, q3 = _quantiles(ratios)
        r1, rmed, r3 = _quantiles(per_round[n])
        out["models"][n] = {
            "samples_per_second": round(samples / max(seconds[n], 1e-9), 1),
            "round_median": round(rmed, 1), "round_q1": round(r1, 1), "round_q3": round(r3, 1),
            "round_min": round(min(per_round[n]), 1), "round_max": round(max(per_round[n]), 1),
            "rounds": len(per_round[n]), "per_round": [round(x, 1) for x in per_round[n]],
            "ratio": {"median": round(med, 4), "q1": round(q1, 4), "q3": round(q3, 4), "iqr": round(q3 - q1, 4),
                      "overall": round(seconds[baseline] / max(seconds[n], 1e-9), 4)},
        }
    return out


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
