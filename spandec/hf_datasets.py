"""Hugging Face ``datasets``: sentences read from a Hub or ``save_to_disk`` dataset, and written as one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .data import DataError, Sentence, tag_error, detect_scheme, entity_types, to_iob2

if TYPE_CHECKING:  # pragma: no cover
    import datasets

__all__ = ["load_hf_dataset", "to_hf_dataset"]


def load_hf_dataset(name_or_path: str, split: str = "train") -> list[Sentence]:
    """Sentences from an HF dataset with ``tokens`` and ``ner_tags`` columns (Hub or local).

    A ``save_to_disk`` folder is opened with ``load_from_disk``, anything else with
    ``datasets.load_dataset``; tags (ClassLabel names or strings) become IOB2.
    """
    import datasets

    where = f"{name_or_path}[{split}]"
    local = Path(name_or_path)
    if local.is_dir() and any((local / f).is_file() for f in
                              ("dataset_dict.json", "dataset_info.json", "state.json")):
        loaded = datasets.load_from_disk(str(local))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{name_or_path}: no split {split!r} "
                                f"(has {', '.join(loaded)})")
            loaded = loaded[split]
        ds = loaded
    else:
        ds = datasets.load_dataset(name_or_path, split=split)
    for column in ("tokens", "ner_tags"):
        if column not in ds.column_names:
            raise DataError(f"{where}: no {column!r} column (has {', '.join(ds.column_names)})")
    inner = getattr(ds.features["ner_tags"], "feature", None)
    names = inner.names if isinstance(inner, datasets.ClassLabel) else None
    if names is None and not (isinstance(inner, datasets.Value) and inner.dtype == "string"):
        raise DataError(f"{where}: 'ner_tags' must be a list of ClassLabel or string, "
                        f"not {ds.features['ner_tags']}")
    rows = ds.with_format(None)[:]
    doc_col = rows.get("doc_id") or [None] * len(rows["tokens"])
    tag_lists = [[names[i] for i in t] if names is not None else list(t)
                 for t in rows["ner_tags"]]
    for i, (tokens, tags) in enumerate(zip(rows["tokens"], tag_lists)):
        if len(tokens) != len(tags):
            raise DataError(f"{where}:{i}: {len(tokens)} tokens but {len(tags)} tags")
        for tag in tags:
            problem = tag_error(tag, "BIES")
            if problem:
                raise DataError(f"{where}:{i}: {problem}")
    scheme = detect_scheme(tag_lists)
    return [Sentence(list(tokens), to_iob2(tags, scheme),
                     None if doc is None else str(doc), f"{where}:{i}")
            for i, (tokens, tags, doc) in enumerate(zip(rows["tokens"], tag_lists, doc_col))]


def to_hf_dataset(sentences: Sequence[Sentence]) -> "datasets.Dataset":
    """HF Dataset with ``tokens``, ``ner_tags`` (ClassLabel: O, B-T, I-T per type), ``doc_id``."""
    import datasets

    names = ["O"] + [f"{p}-{t}" for t in entity_types(sentences) for p in "BI"]
    index = {n: i for i, n in enumerate(names)}
    features = datasets.Features({
        "tokens": datasets.List(datasets.Value("string")),
        "ner_tags": datasets.List(datasets.ClassLabel(names=names)),
        "doc_id": datasets.Value("string"),
    })
    return datasets.Dataset.from_dict({
        "tokens": [list(s.words) for s in sentences],
        "ner_tags": [[index[t] for t in s.tags] for s in sentences],
        "doc_id": [s.doc_id for s in sentences],
    }, features=features)
