"""Batch prediction on Ray Data: an actor class that loads the model once, ``predict_dataset`` for Ray Datasets,
and the runner behind ``spandec predict --ray``. Ray is optional (``pip install 'spandec[ray]'``).
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from .stream import MAX_CHARS, Item, cpu_cores, entity_type, item_error, tag_items

__all__ = ["Predictor", "ShardTagger", "predict_dataset", "ray_runner", "ray_engine"]


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
                 precision: str | None = None, max_chars: int = MAX_CHARS, **settings):
        import torch

        from . import load_model

        torch.set_num_threads(max(1, int(threads)))
        self.model = load_model(model, device=device, **({"precision": precision} if precision else {}))
        self.model.check_options(settings)  # a misspelt option fails here, once, not on every batch
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


class ShardTagger:
    """A Ray actor of :func:`ray_runner`: loads the model once, tags one shard (texts or word lists) per call."""

    def __init__(self, model: str, threads: int, loading: dict):
        import torch

        from . import load_model

        torch.set_num_threads(max(1, int(threads)))
        self.model = load_model(model, **loading)

    def tag(self, items: list[Item], settings: dict) -> list[list[dict]]:
        return tag_items(self.model, items, **settings)


def ray_runner(model: str, address: str, workers: int, loading: dict, settings: dict, per_worker: int = 2):
    """A ``predict_file`` runner: shards tagged by ``workers`` Ray actors, at most ``per_worker`` shards in flight
    per actor (so at most ``workers * per_worker`` shards are out of the input at once: the driver reads the next
    shard only when one comes back, and the object store never holds more than those).

    The driver reads the input (so ids, checks and resumption are those of the local path); shards come back in
    the order they finish. To read from storage on the cluster itself, use :func:`predict_dataset`.
    """
    if per_worker < 1:
        raise ValueError("per_worker must be at least 1")

    def run(shards: Iterator[tuple[int, list[Item]]], report) -> Iterator[tuple[int, list[list[dict]]]]:
        ray = _ray()
        started = _connect(address, workers)
        try:
            cpus = max(1, int(ray.cluster_resources().get("CPU", workers)) // workers)
            actor = ray.remote(num_cpus=cpus)(ShardTagger)
            actors = [actor.remote(model, cpus, loading) for _ in range(workers)]
            load = {k: 0 for k in range(workers)}  # shards in flight per actor
            running: dict[Any, tuple[int, int]] = {}  # result ref -> (shard, actor)
            source, exhausted = iter(shards), False
            while running or not exhausted:
                while not exhausted and min(load.values()) < per_worker:
                    nxt = next(source, None)
                    if nxt is None:
                        exhausted = True
                    elif not nxt[1]:
                        yield nxt[0], []
                    else:
                        a = min(load, key=load.get)
                        running[actors[a].tag.remote(list(nxt[1]), settings)] = (nxt[0], a)
                        load[a] += 1
                if not running:
                    continue
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    k, a = running.pop(ref)
                    load[a] -= 1
                    result = ray.get(ref)
                    report(len(result))
                    yield k, result
        finally:
            if started:
                ray.shutdown()
    return run


def ray_engine(address: str, workers: int):
    """The ``engine`` of :func:`spandec.stream.predict_file` that tags on Ray Data at ``address`` with ``workers`` actors."""
    return lambda model, loading, settings: ray_runner(model, address, workers, loading, settings)
