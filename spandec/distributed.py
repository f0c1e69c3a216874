"""Batch prediction on Ray Data: an actor class that loads the model once, ``predict_dataset`` for Ray Datasets,
and the runner behind ``spandec predict --ray``. Ray is optional (``pip install 'spandec[ray]'``).
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from .stream import Item, cpu_cores, entity_type, item_error, tag_items

__all__ = ["Predictor", "predict_dataset", "ray_runner", "ray_engine"]


def _ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ValueError("Ray is not installed; pip install 'spandec[ray]' (ray[data]>=2.60)") from None
    return ray


class Predictor:
    """Ray Data callable class: loads the model once per actor, adds ``entities`` (and ``error``) to each batch.

    Rows are read from a ``tokens`` column (a list of words) when set, else from ``text``; a row that cannot
    be tagged (empty, too long) gets null entities and its reason in ``error``.
    """

    def __init__(self, model: str, threads: int = 1, batch_size: int = 8, device: str | None = None,
                 precision: str | None = None, max_chars: int = 100_000, **settings):
        import torch

        from . import load_model

        torch.set_num_threads(max(1, int(threads)))
        self.model = load_model(model, device=device, **({"precision": precision} if precision else {}))
        self.batch_size, self.max_chars, self.settings = batch_size, max_chars, settings

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        names = batch.schema.names
        if "text" not in names and "tokens" not in names:
            raise ValueError(f"a dataset to tag needs a 'text' or 'tokens' column (has {', '.join(names)})")
        n = batch.num_rows
        tokens = batch.column("tokens").to_pylist() if "tokens" in names else [None] * n
        texts = batch.column("text").to_pylist() if "text" in names else [None] * n
        items = [w if w is not None else t for w, t in zip(tokens, texts)]
        errors = [item_error(x, self.max_chars) for x in items]
        ok = [i for i, e in enumerate(errors) if e is None]
        tagged = tag_items(self.model, [items[i] for i in ok], batch_size=self.batch_size, **self.settings)
        entities: list[list[dict] | None] = [None] * n
        for i, ents in zip(ok, tagged):
            entities[i] = ents
        batch = batch.append_column("entities", pa.array(entities, type=pa.list_(entity_type())))
        return batch.append_column("error", pa.array(errors, type=pa.string()))


def predict_dataset(ds: Any, model: str, batch_size: int = 256, concurrency: int = 1, num_cpus: float = 1,
                    model_batch_size: int = 8, **options) -> Any:
    """``ds`` (a ``ray.data.Dataset`` with ``text`` or ``tokens``) with ``entities`` and ``error`` columns added.

    ``concurrency`` actors of ``num_cpus`` CPUs (and as many torch threads) each load ``model`` (folder or Hub id)
    once; ``batch_size`` rows per Ray batch, ``model_batch_size`` per forward pass; options go to predict_batch.
    """
    ray = _ray()
    return ds.map_batches(
        Predictor, batch_format="pyarrow", batch_size=batch_size, num_cpus=num_cpus,
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        fn_constructor_kwargs={"model": model, "threads": max(1, int(num_cpus)), "batch_size": model_batch_size,
                               **options},
    )


def _connect(address: str, workers: int) -> bool:
    """Join the Ray cluster at ``address`` ("local": start one with this machine's cores); whether we started Ray."""
    ray = _ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if address == "local":
        ray.init(num_cpus=max(cpu_cores(), workers), **kwargs)
    else:
        ray.init(address=address, **kwargs)
    return True


def ray_runner(model: str, address: str, workers: int, loading: dict, settings: dict):
    """A ``predict_file`` runner: pending shards put in Ray's object store, tagged by ``workers`` actors, in order.

    The driver reads the input (so ids, checks and resumption are those of the local path); Ray spills the
    object store to disk when it fills. To read from storage on the cluster itself, use :func:`predict_dataset`.
    """
    import pyarrow as pa

    def run(shards: Iterator[tuple[int, list[Item]]], report) -> Iterator[tuple[int, list[list[dict]]]]:
        ray = _ray()
        started = _connect(address, workers)
        try:
            schema = pa.schema([("shard", pa.int64()), ("text", pa.string()), ("tokens", pa.list_(pa.string()))])
            refs, sizes = [], {}
            for k, items in shards:
                if not items:
                    yield k, []
                    continue
                refs.append(ray.put(pa.table({
                    "shard": [k] * len(items), "text": [x if isinstance(x, str) else None for x in items],
                    "tokens": [None if isinstance(x, str) else list(x) for x in items]}, schema=schema)))
                sizes[k] = len(items)
            if not refs:
                return
            context = ray.data.DataContext.get_current()
            context.execution_options.preserve_order = True
            context.enable_progress_bars = False
            cpus = max(1, int(ray.cluster_resources().get("CPU", workers)) // workers)
            tagged = predict_dataset(ray.data.from_arrow_refs(refs), model, batch_size=32 * settings["batch_size"],
                                     concurrency=workers, num_cpus=cpus, model_batch_size=settings["batch_size"],
                                     **loading, **{k: v for k, v in settings.items() if k != "batch_size"})
            buffers: dict[int, list] = {}
            for batch in tagged.iter_batches(batch_format="pyarrow", batch_size=None):
                report(batch.num_rows)
                for k, ents in zip(batch.column("shard").to_pylist(), batch.column("entities").to_pylist()):
                    buffers.setdefault(k, []).append(ents)
                    if len(buffers[k]) == sizes[k]:
                        yield k, buffers.pop(k)
        finally:
            if started:
                ray.shutdown()
    return run


def ray_engine(address: str, workers: int):
    """The ``engine`` of :func:`spandec.stream.predict_file` that tags on Ray Data at ``address`` with ``workers`` actors."""
    return lambda model, loading, settings: ray_runner(model, address, workers, loading, settings)
