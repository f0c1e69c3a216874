"""Learning from corrections: fine-tune a project's model on its accepted annotations, in the background.

:func:`start` splits the accepted annotations (seeded) into a training part and a held-out share, writes both as
CoNLL and runs ``spandec train --init-from MODEL`` in a subprocess; :func:`poll` reports its progress and, once it
has finished, scores the old and the new model on the held-out share, adds the new version to the served models
and makes it the project's pre-annotation model.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..evaluation import evaluate
from ..formats import file_stem
from ..store import Store
from ..store import projects as P
from ..store.formats import write_annotations
from .context import AppContext, InputError, get_entry
from .pool import ModelPool, ModelSpec

__all__ = ["Job", "start", "poll", "RESULT_HEADERS"]

RESULT_HEADERS = ["model", "held-out F1", "precision", "recall", "sentences"]
_jobs: dict[str, "Job"] = {}
_guard = threading.Lock()


@dataclass
class Job:
    """One fine-tuning run of a project's model."""

    project: str
    base: str  # served model name it starts from
    version: str  # served name of the new model
    output: Path
    dev: Path
    proc: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)
    rows: list[list] = field(default_factory=list)
    done: str = ""  # final message once finished

    @property
    def note(self) -> str:
        """The message shown when the run starts."""
        return f"Started fine-tuning {self.base} → “{self.version}”."


def _versions_dir(ctx: AppContext, store: Store) -> Path:
    """Where new model versions are saved: next to an SQLite database, else in the app's work folder."""
    return (Path(store.where).parent if store.is_sqlite else ctx.workdir) / "spandec-models"


def start(ctx: AppContext, store: Store, project: str, epochs: int = 2, held_out: float = 0.2,
          max_steps: int | None = None) -> Job:
    """Fine-tune the project's model on its accepted annotations in a subprocess; returns the job."""
    proj = P.get_project(store, project)
    with _guard:
        job = _jobs.get(proj.name)
        if job is not None and job.proc.poll() is None:
            raise InputError(f"“{proj.name}” is being fine-tuned already; wait for it to finish.")
    if not proj.model:
        raise InputError("This project has no model to fine-tune; create it with a “Pre-annotate with” model.")
    entry = get_entry(ctx, proj.model)
    rows = P.project_annotations(store, proj)
    if len(rows) < 5:
        raise InputError(f"Only {len(rows)} accepted annotations; accept at least 5 before fine-tuning.")
    if not 0 < held_out < 1:
        raise InputError("The held-out share must be between 0 and 1.")
    random.Random(0).shuffle(rows)
    n_dev = max(1, round(held_out * len(rows)))
    safe = file_stem(proj.name)
    root = _versions_dir(ctx, store)
    k = 1 + max([int(m.group(1)) for p in root.glob(f"{safe}-v*") if (m := re.search(r"-v(\d+)$", p.name))],
                default=0)
    out = root / f"{safe}-v{k}"
    out.mkdir(parents=True, exist_ok=True)
    train, dev = write_annotations(rows[n_dev:], "conll", out / "train.conll"), write_annotations(
        rows[:n_dev], "conll", out / "dev.conll")
    cmd = [sys.executable, "-m", "spandec.cli", "train", "--strategy", entry.base_strategy,
           "--init-from", str(entry.spec.source), "--train", str(train), "--dev", str(dev), "--output", str(out),
           "--epochs", str(int(epochs)), "--batch-size", "8", "--per-device-batch-size", "8",
           "--window-subwords", str(entry.model.window_subwords)]  # the base model's window, not the corpus's
    if max_steps:
        cmd += ["--max-steps", str(int(max_steps))]
    log = out / "train.log"
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
    job = Job(proj.name, proj.model, f"{proj.model} ({proj.name} v{k})", out, dev, proc, log)
    with _guard:
        _jobs[proj.name] = job
    return job


def _tail(log: Path) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    last = [p for p in re.split(r"[\r\n]+", text) if p.strip()]
    return last[-1].strip()[:200] if last else "starting"


def _score(model, sentences, threshold: float | None) -> list:
    r = evaluate(model, sentences, **({"threshold": threshold} if threshold is not None else {}))
    return [r["f1"], r["precision"], r["recall"], len(sentences)]  # evaluate() gives percentages


def _finish(ctx: AppContext, store: Store, job: Job) -> None:
    """Score old and new model on the held-out share, serve the new one, make it the project's model."""
    from ..data import read_conll

    dev = read_conll(job.dev)
    proj = P.get_project(store, job.project)
    base = get_entry(ctx, job.base)
    fresh = ModelPool.load([ModelSpec(job.version, str(job.output / "best"))], log=lambda m: None)
    new = fresh.entries[job.version]
    if new.failed:
        raise InputError(f"The new model did not load: {new.error}")
    ctx.pool.entries[job.version] = new  # served from now on, next to the models given at start
    thr = proj.threshold
    with ctx.lock(base.model):
        before = _score(base.model, dev, thr if base.has_filter else None)
    after = _score(new.model, dev, thr if new.has_filter else None)
    job.rows = [[job.base, *before], [job.version, *after]]
    P.set_model(store, proj, job.version, thr)
    job.done = (f"Fine-tuned in {time.monotonic() - job.started:.0f} s: held-out F1 {before[0]} → {after[0]}. "
                f"“{job.version}” (saved in {job.output / 'best'}) now pre-annotates this project.")


def poll(ctx: AppContext, store: Store, project: str) -> tuple[str, list[list], bool]:
    """The project's fine-tuning status, its before/after rows, and whether it is still running."""
    with _guard:
        job = _jobs.get(str(project or ""))
    if job is None:
        return "No fine-tuning started for this project in this session.", [], False
    rc = job.proc.poll()
    if rc is None:
        return f"Fine-tuning {job.base} for {time.monotonic() - job.started:.0f} s: {_tail(job.log)}", [], True
    if rc != 0:
        return f"Fine-tuning failed (exit {rc}): {_tail(job.log)} (log: {job.log})", [], False
    with _guard:
        if not job.done:
            _finish(ctx, store, job)
    return job.done, job.rows, False

