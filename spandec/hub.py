"""Models on the Hugging Face Hub: the model card, the folder a model repo holds, push and cached download.

The network calls are thin ``huggingface_hub`` calls; everything they send is first written to a
folder by :func:`save_for_hub`, which works offline.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["is_hub_id", "snapshot", "model_card", "save_for_hub", "push_to_hub", "split_front_matter"]

TASK = ("token-classification", "Named Entity Recognition")
METRIC_NAME = "F1 (seqeval, strict, micro)"


def is_hub_id(source: str) -> bool:
    """Whether ``source`` has the form of a Hub repo id (``org/name``) rather than a path."""
    parts = source.split("/")
    return (len(parts) == 2 and all(parts) and not source.startswith((".", "/", "~")) and "\\" not in source
            and not os.path.isdir(parts[0]))


def snapshot(repo_id: str) -> str:
    """Local folder of Hub model ``repo_id``: downloaded into the Hub cache, or the cached copy when offline.

    Honours ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE``; when the download fails (no network) the cache is
    used; ``FileNotFoundError`` when neither works.
    """
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id)
    except Exception as exc:  # noqa: BLE001 - offline, unknown repo, rate limit, ...
        try:
            return snapshot_download(repo_id, local_files_only=True)
        except Exception:  # noqa: BLE001 - not cached either
            raise FileNotFoundError(f"{repo_id}: not a local folder, not in the Hub cache, and the download failed "
                                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


def split_front_matter(text: str) -> tuple[str, str]:
    """(YAML metadata, body) of a card; metadata is empty when the text has no ``---`` header."""
    if text.startswith("---\n"):
        head, sep, body = text[4:].partition("\n---\n")
        if sep:
            return head, body.lstrip("\n")
    return "", text


def model_card(model, dataset: str | None = None, f1: float | None = None, body: str | None = None,
               name: str | None = None) -> str:
    """A model card (README.md) with the Hub metadata header; ``body`` (e.g. an existing card) follows it.

    ``model`` is a spandec model (its ``strategy``, ``config`` and ``encoder_hub_id``); this module imports none."""
    from huggingface_hub import EvalResult, ModelCardData

    strategy = model.strategy
    results = None
    if f1 is not None:
        if not dataset:
            raise ValueError("an F1 needs the dataset it was measured on (--dataset)")
        results = [EvalResult(task_type=TASK[0], task_name=TASK[1], dataset_type=dataset, dataset_name=dataset,
                              dataset_split="test", metric_type="f1", metric_value=float(f1), metric_name=METRIC_NAME)]
    data = ModelCardData(library_name="spandec", pipeline_tag=TASK[0], license="apache-2.0",
                         tags=["ner", "token-classification", "spandec", strategy],
                         datasets=[dataset] if dataset else None, metrics=["f1"],
                         base_model=model.encoder_hub_id, model_name=name or f"spandec-{strategy}",
                         eval_results=results)
    if body is None:
        body = (f"# spandec {strategy} model\n\n{strategy} NER model on the encoder `{model.config.encoder}`, "
                f"labels {', '.join(model.config.labels)}.\n"
                + (f"\nTest F1 on {dataset}: {f1:.2f} ({METRIC_NAME}).\n" if f1 is not None else ""))
    usage = (f"\n## Use\n\n```python\nimport spandec\n\nmodel = spandec.load_model(\"{name or 'ORG/NAME'}\")\n"
             "model.predict(\"Angela Merkel visited Paris.\")\n```\n")
    return f"---\n{data.to_yaml()}\n---\n\n{body.rstrip()}\n" + ("" if "## Use" in body else usage)


def save_for_hub(model, folder: str | os.PathLike, dataset: str | None = None, f1: float | None = None,
                 body: str | None = None, name: str | None = None, dtype=None, skip_unchanged: bool = False) -> Path:
    """Write what the model repo holds to ``folder``: ``save_pretrained`` output (``dtype``, ``skip_unchanged``
    as there) and the model card."""
    folder = Path(folder)
    model.save_pretrained(folder, dtype=dtype, skip_unchanged=skip_unchanged)
    (folder / "README.md").write_text(model_card(model, dataset, f1, body, name), encoding="utf-8")
    return folder


def push_to_hub(model, repo_id: str, token: str | None = None, private: bool = False, **card) -> str:
    """Create (or reuse) model repo ``repo_id`` and upload the model and its card (``card``: the options of
    :func:`save_for_hub`); returns the repo URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="spandec-push-") as tmp:
        save_for_hub(model, tmp, name=card.pop("name", repo_id), **card)
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(folder_path=tmp, repo_id=repo_id, repo_type="model",
                          commit_message=f"Upload spandec {model.strategy} model")
    return str(url)
