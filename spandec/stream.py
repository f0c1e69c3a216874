"""Streaming batch prediction: lazy input readers, sharded resumable output, worker processes.

``spandec predict MODEL --file IN --output OUT`` reads IN lazily, groups its records into shards of
``shard_size`` (input order), tags them (in this process, in ``workers`` processes, or on Ray) and writes
each finished shard to ``OUT.parts/shard-NNNNNNNN.jsonl`` (bad records to ``...errors.jsonl``), noting it in
``OUT.parts/manifest.json``. When every shard is done they are joined, in input order, into OUT (JSONL, or
Parquet for a ``.parquet`` suffix) and ``<OUT stem>.errors.jsonl``, and ``OUT.parts`` is removed. Rerunning the
same command after a kill redoes only the shards not in the manifest; a manifest written for another
input, model or option set is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

from .data import DataError, iter_conll_words, iter_lines, line_text, split_lines
from .formats import json_text
from .inputs import input_kind, iter_jsonl_inputs

__all__ = ["InputRecord", "iter_records", "item_error", "tag_items", "predict_file", "cpu_cores",
           "output_schema", "entity_type", "MAX_CHARS"]

Item = str | list[str]
MAX_CHARS = 100_000  # the longest text tagged by default (--max-chars), in characters
_COLUMNS = ("id", "text", "tokens")


@dataclass
class InputRecord:
    """One input record: its 0-based position, id (given, else the position), text or words, origin, problem."""

    index: int
    id: Any
    item: Item | None
    where: str
    error: str | None = None


def item_error(item: Any, max_chars: int = MAX_CHARS) -> str | None:
    """Why a text (str) or word list cannot be tagged (empty, over ``max_chars``), or None if it can."""
    if isinstance(item, str):
        size, empty = len(item), not item.strip()
    elif isinstance(item, (list, tuple)) and all(isinstance(w, str) for w in item):
        size, empty = sum(len(w) + 1 for w in item) - 1, not any(w.strip() for w in item)
    else:
        return "no 'text' string or 'tokens' list"
    if empty:
        return "empty text"
    if size > max_chars:
        return f"text of {size:,} characters is over the limit of {max_chars:,} (--max-chars)"
    return None


def _table_rows(batches: Iterable[Any], where: str) -> Iterator[tuple[str, Any, Any]]:
    """(where, text or words, id) per row of Arrow record batches with ``text`` or ``tokens`` (and ``id``)."""
    row = 0
    for batch in batches:
        cols = {name: batch.column(name).to_pylist() for name in _COLUMNS if name in batch.schema.names}
        if "text" not in cols and "tokens" not in cols:
            raise DataError(f"{where}: no 'text' or 'tokens' column (has {', '.join(batch.schema.names)})")
        for i in range(batch.num_rows):
            tokens = cols["tokens"][i] if "tokens" in cols else None
            item = tokens if tokens is not None else cols.get("text", [None] * batch.num_rows)[i]
            yield f"{where}[row {row}]", item, cols["id"][i] if "id" in cols else None
            row += 1


def _dataset_batches(path: Path, split: str | None) -> Iterator[Any]:
    """Arrow batches of a ``save_to_disk`` folder (one split of a DatasetDict: ``split`` or the only one)."""
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split is None and len(loaded) != 1:
            raise DataError(f"{path}: several splits ({', '.join(loaded)}); choose one with --split")
        split = split or next(iter(loaded))
        if split not in loaded:
            raise DataError(f"{path}: no split {split!r} (has {', '.join(loaded)})")
        loaded = loaded[split]
    columns = [c for c in _COLUMNS if c in loaded.column_names]
    return loaded.with_format("arrow").select_columns(columns or loaded.column_names).iter(batch_size=1024)


def check_source(path: str) -> None:
    """What an input may be: a file, or a folder saved with ``save_to_disk`` (else :class:`DataError` naming it)."""
    p = Path(path)
    if p.is_dir():
        if not any((p / f).is_file() for f in ("dataset_dict.json", "dataset_info.json", "state.json")):
            raise DataError(f"{path}: a folder, but not a dataset saved with save_to_disk")
    elif not p.is_file():
        raise DataError(f"{path}: no such file")


def _raw_records(path: str, split: str | None) -> Iterator[tuple[str, Any, Any]]:
    """(where, text or words or DataError, given id) per record of a file or dataset folder, lazily."""
    check_source(path)
    p = Path(path)
    if p.is_dir():
        yield from _table_rows(_dataset_batches(p, split), path)
    elif p.suffix == ".parquet":
        import pyarrow.parquet as pq

        f = pq.ParquetFile(p)
        columns = [c for c in _COLUMNS if c in f.schema_arrow.names]
        yield from _table_rows(f.iter_batches(batch_size=1024, columns=columns or None), path)
    elif input_kind(p) in ("jsonl", "json"):
        for n, item, key in iter_jsonl_inputs(p):
            yield f"{path}:{n}" if isinstance(n, int) else f"{path}: {n}", item, key
    elif input_kind(p) == "conll":
        for first, words in iter_conll_words(p):
            yield f"{path}:{first}", words, None
    else:
        for n, line in enumerate(iter_lines(p), 1):
            if line.strip():  # blank lines separate texts; they are not records
                yield f"{path}:{n}", line_text(line), None


def iter_records(path: str, split: str | None = None, max_chars: int = MAX_CHARS) -> Iterator[InputRecord]:
    """Records of .txt (a text per line), .jsonl, CoNLL, .parquet or a ``save_to_disk`` folder, read lazily."""
    for index, (where, item, key) in enumerate(_raw_records(path, split)):
        if isinstance(item, DataError):
            error = str(item)
        else:
            problem = item_error(item, max_chars)
            error = f"{where}: {problem}" if problem else None
        yield InputRecord(index, index if key is None else key, None if error else item, where, error)


def tag_items(model: Any, items: Sequence[Item], batch_size: int = 8, flat: bool = True, min_score: float = 0.0,
              report: Callable[[int], None] | None = None, **options) -> list[list[dict]]:
    """Entities of each item via ``model.predict_batch``, in chunks of 32 batches (``report(n)`` after each)."""
    out: list[list[dict]] = []
    step = max(1, 32 * batch_size)
    for start in range(0, len(items), step):
        chunk = list(items[start : start + step])
        out.extend(model.predict_batch(chunk, batch_size=batch_size, flat=flat, min_score=min_score, **options))
        if report is not None:
            report(len(chunk))
    return out


def cpu_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def entity_type():
    """Arrow type of one entity dict."""
    import pyarrow as pa

    return pa.struct([("span", pa.string()), ("label", pa.string()), ("score", pa.float64()),
                      *[(k, pa.int64()) for k in ("char_start_index", "char_end_index",
                                                  "word_start_index", "word_end_index")]])


def output_schema():
    """Arrow schema of Parquet output: id (as a string), text or tokens, entities."""
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("text", pa.string()), ("tokens", pa.list_(pa.string())),
                      ("entities", pa.list_(entity_type()))])


def _result_line(rec: InputRecord, entities: list[dict]) -> str:
    key = "text" if isinstance(rec.item, str) else "tokens"
    return json_text({"id": rec.id, key: rec.item, "entities": entities}) + "\n"


def _error_line(rec: InputRecord) -> str:
    return json_text({"id": rec.id, "index": rec.index, "where": rec.where, "error": rec.error}) + "\n"


# ----- shards, manifest, output ----------------------------------------------------------------

def _fingerprint(path: str) -> str:
    """Content-ish identity of a file or folder (names, sizes, modification times; config.json's bytes)."""
    from .models.runtime import CONFIG_NAME

    p = Path(path)
    if not p.exists():
        return path  # a Hub id
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(p) if p.is_dir() else f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        if f.name == CONFIG_NAME:
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class _Parts:
    """``OUT.parts``: shard files and the manifest (the job, shards done, shard count once known)."""

    def __init__(self, output: Path, job: dict):
        self.output, self.dir = output, output.with_name(output.name + ".parts")
        self.manifest_path = self.dir / "manifest.json"
        self.manifest: dict = {"job": job, "done": {}, "shards": None, "records": None}
        if self.manifest_path.is_file():
            old = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            for key, value in job.items():
                if old.get("job", {}).get(key) != value:
                    raise ValueError(f"{self.manifest_path} was written for another job ({key}: "
                                     f"{old.get('job', {}).get(key)!r}, now {value!r}); "
                                     f"remove {self.dir} to start afresh or choose another --output")
            self.manifest = old
        self.dir.mkdir(parents=True, exist_ok=True)
        self._save()

    @property
    def done(self) -> dict[str, list[int]]:
        return self.manifest["done"]

    def path(self, k: int, kind: str = "") -> Path:
        return self.dir / f"shard-{k:08d}{kind}.jsonl"

    def write(self, k: int, results: list[str], errors: list[str]) -> None:
        _atomic_write(self.path(k, ".errors"), "".join(errors))
        _atomic_write(self.path(k), "".join(results))
        self.done[str(k)] = [len(results), len(errors)]
        self._save()

    def finish(self, shards: int, records: int) -> None:
        self.manifest.update(shards=shards, records=records)
        self._save()

    def _save(self) -> None:
        _atomic_write(self.manifest_path, json.dumps(self.manifest, indent=1))

    def assemble(self) -> Path | None:
        """Join the shards into OUT (and the errors file, if any), remove the parts; the errors file's path."""
        shards = range(self.manifest["shards"])
        missing = [k for k in shards if str(k) not in self.done]
        if missing:
            raise ValueError(f"{self.dir}: shards {missing[:5]} not done; rerun the same command")
        tmp = self.output.with_name(self.output.name + ".tmp")
        try:
            self._join(shards, tmp)
            os.replace(tmp, self.output)
        finally:  # a failed join or rename leaves the shards (the rerun reuses them), never a stale temp file
            tmp.unlink(missing_ok=True)
        errors_path = self.output.with_name(self.output.name.rsplit(".", 1)[0] + ".errors.jsonl")
        if sum(n for _, n in self.done.values()):
            with open(errors_path, "wb") as out:
                for k in shards:
                    with open(self.path(k, ".errors"), "rb") as f:
                        shutil.copyfileobj(f, out)
        else:
            errors_path.unlink(missing_ok=True)
            errors_path = None
        shutil.rmtree(self.dir)
        return errors_path

    def _join(self, shards: range, tmp: Path) -> None:
        """The shards' results, in order, as one file at ``tmp`` (Parquet for a ``.parquet`` output)."""
        if self.output.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = output_schema()
            with pq.ParquetWriter(tmp, schema) as writer:
                for k in shards:
                    rows = [json.loads(line) for line in split_lines(self.path(k).read_text(encoding="utf-8")) if line]
                    for row in rows:
                        row["id"] = str(row["id"])
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        else:
            with open(tmp, "wb") as out:
                for k in shards:
                    with open(self.path(k), "rb") as f:
                        shutil.copyfileobj(f, out)


# ----- running shards ------------------------------------------------------------------------

Shard = tuple[int, list[InputRecord]]
Runner = Callable[[Iterator[tuple[int, list[Item]]], Callable[[int], None]], Iterator[tuple[int, list[list[dict]]]]]


def _in_process(model: Any, settings: dict) -> Runner:
    def run(shards, report):
        for k, items in shards:
            yield k, tag_items(model, items, report=report, **settings)
    return run


_WORKER: dict[str, Any] = {}


def _worker_init(threads: int, queue: Any) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["queue"] = queue


def _worker_tag(model_path: str, loading: dict, items: list[Item], settings: dict) -> list[list[dict]]:
    if _WORKER.get("path") != model_path:
        from . import load_model

        _WORKER.update(path=model_path, model=load_model(model_path, **loading))
    return tag_items(_WORKER["model"], items, report=_WORKER["queue"].put, **settings)


def _process_pool(model_path: str, loading: dict, workers: int, settings: dict) -> Runner:
    """Shards tagged by ``workers`` spawned processes, each with cores/workers torch threads."""
    import multiprocessing as mp
    import queue as queue_mod

    def run(shards, report):
        ctx = mp.get_context("spawn")
        progress = ctx.Queue()
        threads = max(1, cpu_cores() // workers)
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(threads, progress)) as pool:
            running: dict[Future, int] = {}
            source = iter(shards)
            exhausted = False
            while running or not exhausted:
                while not exhausted and len(running) < 2 * workers:
                    nxt = next(source, None)
                    if nxt is None:
                        exhausted = True
                    else:
                        running[pool.submit(_worker_tag, model_path, loading, nxt[1], settings)] = nxt[0]
                finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                try:
                    while True:
                        report(progress.get_nowait())
                except queue_mod.Empty:
                    pass
                for fut in sorted(finished, key=running.get):
                    yield running.pop(fut), fut.result()
    return run


def _shards(records: Iterator[InputRecord], size: int) -> Iterator[Shard]:
    for k in range(sys.maxsize):
        chunk = list(islice(records, size))
        if not chunk:
            return
        yield k, chunk


def _check_paths(model: str, source: str) -> None:
    """The input is a file or a saved dataset, a local model folder holds a saved model (a Hub id is fetched when
    loaded): checked before the job's fingerprint walks them, so a folder such as ".." is refused, never walked."""
    check_source(source)
    if os.path.exists(model):
        from .models.base import read_saved_config

        read_saved_config(model)


def predict_file(model: str, source: str, output: str | None = None, *, workers: int = 1, batch_size: int = 8,
                 shard_size: int = 1000, on_error: str = "fail", max_chars: int = MAX_CHARS,
                 split: str | None = None, engine: Callable | None = None, device: str | None = None,
                 precision: str | None = None, progress: bool = True,
                 flat: bool = True, min_score: float = 0.0, stdout: IO[str] | None = None, **options) -> dict:
    """Tag every record of ``source`` into ``output`` (resumable shards; see the module doc) or ``stdout``.

    ``engine``: ``(model, loading, settings) -> runner`` to tag elsewhere than in local processes
    (:func:`spandec.distributed.ray_engine` for Ray Data). Returns counts.
    """
    loading = {"device": device, **({"precision": precision} if precision else {})}
    from tqdm import tqdm

    if on_error not in ("skip", "fail"):
        raise ValueError(f"--on-error must be skip or fail, not {on_error!r}")
    if workers < 1 or shard_size < 1:
        raise ValueError("--workers and --shard-size must be at least 1")
    settings = {"batch_size": batch_size, "flat": flat, "min_score": min_score, **options}
    _check_paths(model, source)
    job = {"input": os.path.abspath(source), "input_fingerprint": _fingerprint(source), "split": split,
           "model": os.path.abspath(model) if os.path.exists(model) else model, "model_fingerprint": _fingerprint(model),
           "precision": precision,
           "flat": flat, "min_score": min_score, "options": options, "max_chars": max_chars, "on_error": on_error,
           "shard_size": shard_size}
    parts = _Parts(Path(output), job) if output else None
    done = parts.done if parts else {}
    in_flight: dict[int, tuple[list[InputRecord], list[str]]] = {}
    counts = {"shards": 0, "records": 0}

    def pending() -> Iterator[tuple[int, list[Item]]]:
        for k, records in _shards(iter_records(source, split, max_chars), shard_size):
            counts["shards"], counts["records"] = k + 1, counts["records"] + len(records)
            if str(k) in done:
                continue
            bad = [r for r in records if r.error]
            for r in bad:
                if on_error == "fail":
                    raise DataError(r.error)
                print(f"spandec predict: skipped record {r.id!r}: {r.error}", file=sys.stderr)
            good = [r for r in records if not r.error]
            in_flight[k] = (good, [_error_line(r) for r in bad])
            yield k, [r.item for r in good]

    if engine is not None:
        runner = engine(model, loading, settings)
    elif workers > 1:
        runner = _process_pool(model, loading, workers, settings)
    else:
        from . import load_model

        runner = _in_process(load_model(model, **loading), settings)
    out = stdout or sys.stdout
    waiting: dict[int, str] = {}  # stdout only: finished shards waiting for earlier ones
    next_out = 0
    bar = tqdm(unit=" texts", file=sys.stderr, disable=not progress, mininterval=1.0, dynamic_ncols=True,
               initial=sum(n for n, _ in done.values()))
    try:
        for k, entities in runner(pending(), bar.update):
            good, errors = in_flight.pop(k)
            results = [_result_line(r, e) for r, e in zip(good, entities)]
            if parts:
                parts.write(k, results, errors)
                continue
            waiting[k] = "".join(results)
            while next_out in waiting:
                out.write(waiting.pop(next_out))
                next_out += 1
    finally:
        bar.close()
    summary = {"records": counts["records"], "shards": counts["shards"]}
    if parts:
        parts.finish(counts["shards"], counts["records"])
        summary["tagged"] = sum(n for n, _ in parts.done.values())
        summary["errors"] = sum(n for _, n in parts.done.values())
        errors_path = parts.assemble()
        summary.update(output=str(output), errors_file=str(errors_path) if errors_path else None)
    return summary
