"""The app's kernel: the context every view's callbacks take (served models, limits, caches) and input checks.

Each view (one module of :mod:`spandec.app`) takes an :class:`AppContext` and plain values,
and returns plain values and plotly figures that ``app.py`` hands to Gradio components.
Problems with the user's input raise :class:`InputError`, whose message the UI shows as it is;
library ``ValueError``s about input are turned into it here (:func:`check_threshold`).
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .. import spans
from ..data import Sentence, split_lines
from ..models import PredictStats
from ..models.explain import SpanScores, score_spans
from .cost import Cost, check_budget, estimate
from .errors import EmptyInput, InputError
from .pool import ModelPool

__all__ = [
    "InputError", "EmptyInput", "Limits", "AppContext", "clean_text", "check_threshold", "get_entry",
    "ready_entries", "read_examples", "run_model", "EvalSet", "DEFAULT_EXAMPLES", "DEFAULT_RESULTS", "FairLock",
    "Cancelled", "MAX_UPLOAD_BYTES", "check_request",
]
DEFAULT_EXAMPLES = "data/examples.txt"  # the app's default data, relative to its folder
DEFAULT_RESULTS = "comparisons/results/conllpp.json"
MAX_UPLOAD_BYTES = 5_000_000  # the app's upload limit; the Gradio server is started with the same
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class Cancelled(InputError):
    """The user cancelled a long job."""


class FairLock:
    """A lock handed out in arrival order; :meth:`yield_turn` lets everyone already waiting go first.

    Long jobs hold a model's lock only between two forward passes: light requests queue for one pass at most.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque = deque()
        self._held = False

    def acquire(self) -> bool:
        with self._cond:
            me = object()
            self._queue.append(me)
            while self._held or self._queue[0] is not me:
                self._cond.wait()
            self._queue.popleft()
            self._held = True
        return True

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def __enter__(self) -> "FairLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def yield_turn(self) -> None:
        """Release and re-acquire if anyone is waiting (the waiters run first)."""
        with self._cond:
            if not self._queue:
                return
        self.release()
        self.acquire()


@dataclass
class Limits:
    """Size limits that keep one request from stalling the app."""

    max_chars: int = 10_000  # per text in the interactive views
    max_file_chars: int = 200_000  # per text in file tagging (tagged window by window, with progress)
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_upload_texts: int = 5_000
    max_grid_words: int = 60  # words drawn in the span grid and the heat strip
    max_eval_sentences: int = 5_000
    request_seconds: float = 15.0  # estimated model time of one interactive request (spandec.app.cost)
    job_seconds: float = 900.0  # estimated model time of one queued job (tagging a file, evaluating a CoNLL file)
    cpu_speed: float = 1.0  # this machine's speed relative to the reference machine of spandec.app.cost
    max_work_files_age: float = 6 * 3600.0  # seconds download files stay in the work folder


@dataclass
class EvalSet:
    """An uploaded gold set, with every model's cached outputs."""

    name: str
    sentences: list[Sentence]
    span_scores: dict[str, list[SpanScores]] = field(default_factory=dict)  # span models: all candidates scored
    tags: dict[str, list[list[str]]] = field(default_factory=dict)  # other models: predicted tags
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def gold(self) -> list[list[str]]:
        return [s.tags for s in self.sentences]


class Job:
    """A long job: it holds a model's lock one forward pass at a time and stops once cancelled."""

    def __init__(self, ctx: "AppContext", cancelled: threading.Event) -> None:
        self.ctx, self.cancelled, self._lock = ctx, cancelled, None

    def pause(self) -> None:
        """Between forward passes: stop if cancelled, else let waiting requests use the model first."""
        if self.cancelled.is_set():
            raise Cancelled("Cancelled.")
        if self._lock is not None:
            self._lock.yield_turn()

    @contextmanager
    def using(self, model: Any):
        """Hold ``model``'s lock (yielded at every :meth:`pause`)."""
        self.pause()
        with self.ctx.lock(model) as lock:
            self._lock = lock
            try:
                yield
            finally:
                self._lock = None


@dataclass
class AppContext:
    """What every callback needs: the model pool, limits, stored-results path, examples and caches."""

    pool: ModelPool
    limits: Limits = field(default_factory=Limits)
    results_path: Path | None = None  # stored comparison results (compare.py's JSON) for the trade-off view
    examples: list[str] = field(default_factory=list)
    workdir: Path | None = None  # download files; default: a fresh temporary folder, removed at exit
    cache_size: int = 64
    latency_sample: int = 32  # sentences timed per model in the trade-off view
    runtime: str = ""  # device and precision, shown under the models table (``gpu.describe``)
    evaluations: dict[str, EvalSet] = field(default_factory=dict)  # trade-off view: uploaded gold sets, by key
    latencies: dict[tuple[str, int, float | None, str], float] = field(default_factory=dict)  # ms per text, by
    # (model, batch size, threshold, sample key)
    _scores: "OrderedDict[tuple[str, str], SpanScores]" = field(default_factory=OrderedDict)
    _locks: dict[int, FairLock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _jobs: dict[str, threading.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="spandec-app-"))
            atexit.register(shutil.rmtree, self.workdir, True)

    def lock(self, model: Any) -> FairLock:
        """The lock serialising calls into ``model``: concurrent requests queue rather than oversubscribe the cores."""
        with self._guard:
            return self._locks.setdefault(id(model), FairLock())

    @contextmanager
    def job(self, session: str | None):
        """A long job of ``session`` (cancellable with :meth:`cancel`): yields its :class:`Job`."""
        job = Job(self, threading.Event())
        key = session or f"job-{id(job)}"
        with self._guard:
            self._jobs[key] = job.cancelled
        try:
            yield job
        finally:
            with self._guard:
                self._jobs.pop(key, None)

    def cancel(self, session: str | None) -> bool:
        """Cancel the running job of ``session``; False when it has none."""
        with self._guard:
            event = self._jobs.get(session or "")
        if event is None:
            return False
        event.set()
        return True

    def span_scores(self, name: str, text: str) -> SpanScores:
        """All candidate spans of ``text`` scored by model ``name`` (cached; the slider then needs no model call)."""
        key = (name, text)
        with self._guard:
            if key in self._scores:
                self._scores.move_to_end(key)
                return self._scores[key]
        entry = get_entry(self, name)
        if not entry.has_span_decoder:
            raise InputError(f"{name} is a {entry.strategy} model; this view needs a SpanDec or SF-SpanDec model.")
        check_request(self, [name], [text])
        with self.lock(entry.model) as lock:  # one window per pass, waiting requests served between passes
            scores = score_spans(entry.model, [text], batch_size=1, pause=lock.yield_turn)[0]
        with self._guard:
            self._scores[key] = scores
            while len(self._scores) > self.cache_size:
                self._scores.popitem(last=False)
        return scores

    def new_dir(self, prefix: str) -> Path:
        """A fresh folder under the app's work folder for files offered for download (older ones pruned)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.prune()
        return Path(tempfile.mkdtemp(prefix=prefix + "-", dir=self.workdir))

    def prune(self, now: float | None = None) -> int:
        """Remove download folders older than ``limits.max_work_files_age``; how many were removed."""
        now = time.time() if now is None else now
        removed = 0
        for p in self.workdir.iterdir() if self.workdir.is_dir() else ():
            try:
                if now - p.stat().st_mtime > self.limits.max_work_files_age:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
                    removed += 1
            except OSError:
                continue
        return removed


def get_entry(ctx: AppContext, name: str):
    """The loaded model ``name``, or an :class:`InputError` saying why it is not available."""
    if not name:
        raise InputError("Choose a model first" + ("." if ctx.pool.available else
                                                   ": none is loaded (see “Models” at the top)."))
    try:
        return ctx.pool.get(name)
    except LookupError as exc:
        msg = str(exc).strip("'\"")
        raise InputError(msg[:1].upper() + msg[1:]) from None


def ready_entries(ctx: AppContext) -> list:
    """Every model that loaded (waiting for those still loading), in the served order."""
    out = []
    for name in ctx.pool.available:
        try:
            out.append(ctx.pool.get(name))
        except LookupError:
            continue
    return out


def read_examples(path: str | Path) -> list[str]:
    """Example texts, one per line (``#`` lines are comments); [] when the file is missing."""
    p = Path(path)
    if not p.is_file():
        return []
    return [line.strip() for line in split_lines(p.read_text(encoding="utf-8"))
            if line.strip() and not line.lstrip().startswith("#")]


def clean_text(text: Any, max_chars: int, file_chars: int | None = None) -> tuple[str, list[str]]:
    """Check a text box value; control and bidi-override characters become spaces (offsets kept).

    Returns the text to tag and notes for the user; raises :class:`InputError` when there is nothing to tag,
    the value is not text, or it is longer than ``max_chars`` (the message names the path for longer texts,
    file tagging, which takes ``file_chars``).
    """
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputError(f"Expected text, got {type(text).__name__}.")
    if not text.strip():
        raise EmptyInput("Nothing to tag: the text is empty or only whitespace. Type a sentence or pick an example.")
    if len(text) > max_chars:
        up_to = f" up to {file_chars:,} characters" if file_chars else ""
        raise InputError(f"The text has {len(text):,} characters; this view takes at most {max_chars:,}. Longer texts"
                         f"{up_to} are tagged in the “Tag a file” tab: save the text as a .txt file, choose “the whole "
                         "file is one text” and it is tagged window by window with a progress bar.")
    notes = []
    cleaned, n = _CONTROL.subn(" ", text)
    if n:
        notes.append(f"{n} control or direction-override character{'s' if n > 1 else ''} shown as spaces.")
        if not cleaned.strip():
            raise EmptyInput("Nothing to tag: the text holds only control characters and whitespace.")
    return cleaned, notes


def check_threshold(value: Any) -> float:
    """A threshold from the UI or the API (:func:`spandec.spans.check_threshold`), else :class:`InputError`."""
    try:
        return spans.check_threshold(value)
    except ValueError as exc:
        raise InputError(f"The {exc}.") from None


def run_model(ctx: AppContext, name: str, text: str, threshold: float,
              check: bool = True) -> tuple[list[dict], float, PredictStats]:
    """Entities of ``text`` by model ``name``, the call's wall time in ms, and its span statistics.

    ``check``: refuse a text over the request budget first (:func:`check_request`; callers that checked
    several models at once pass False)."""
    entry = get_entry(ctx, name)
    if check:
        check_request(ctx, [name], [text])
    model = entry.model
    lock = ctx.lock(model)
    with lock:  # one window per forward pass, the lock offered to waiting requests between passes
        start = time.perf_counter()
        pred = model.predict_with_stats([text], batch_size=1, pause=lock.yield_turn, **entry.options(threshold))
        if model.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        ms = 1000 * (time.perf_counter() - start)
    return pred.entities[0], ms, pred.stats




def check_request(ctx: AppContext, names: Sequence[str], items: Sequence[str | Sequence[str]],
                  what: str = "this text", seconds: float | None = None) -> list[Cost]:
    """Estimate models ``names`` on ``items`` (:mod:`spandec.app.cost`) and refuse the request when over
    ``seconds`` (default: ``ctx.limits.request_seconds``); returns the costs."""
    costs = [estimate(n, get_entry(ctx, n).model, items, ctx.limits.cpu_speed) for n in names]
    check_budget(costs, ctx.limits.request_seconds if seconds is None else seconds, what)
    return costs
