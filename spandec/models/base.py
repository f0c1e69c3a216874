"""What every strategy shares: its config, saving and loading, windowed prediction, and what it can do.

A strategy subclasses :class:`NERModel` and implements four hooks:
``window_features`` (one encoded window -> training/inference features),
``collate`` (features -> batch tensors), ``forward`` (batch -> loss) and
``score_windows`` (batch -> per-window candidates or word probabilities), plus :meth:`NERModel.gflops`; a strategy may
override ``score_batches`` to share work between encoder batches.
What a strategy can do is said by the class (``enumerates_spans``, ``has_span_decoder``, ``predict_options``,
``onnx_parts``, ``auto_precisions``, ``cpu_gflops_per_second``, ``has_span_filter``, ``strategy_of``): callers
ask these instead of comparing strategy names.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..gpu import autocast_dtype, select_device
from ..spans import Candidate, Document, decode, entity_dicts
from ..text import is_blank_word
from .encoder import DEFAULT_ENCODER, encoder_from_config, encoder_hub_id, load_encoder, load_tokenizer, max_text_length
from .outputs import Prediction, PredictStats
from .windows import WindowInput, Windowing, same_length_batches
from .runtime import CONFIG_NAME, WEIGHTS_NAME, TorchRuntime, check_precision, loadable_state, set_precision

#: keywords every ``predict`` call takes besides the strategy's ``predict_options``
SHARED_PREDICT_OPTIONS = ("batch_size", "flat", "min_score")


class UnknownOption(TypeError, ValueError):
    """An option a strategy does not take: a ``TypeError`` as for any unknown keyword, and a ``ValueError`` so that
    command lines and servers report it as bad input."""


@dataclass
class NERConfig:
    """Settings shared by all strategies (saved as config.json)."""

    labels: list[str] = field(default_factory=list)  # entity types, without "O"
    encoder: str = DEFAULT_ENCODER  # encoder id or folder it was initialised from
    max_span_words: int = 8  # longest span (in words) span models enumerate
    window_subwords: int | None = None  # subwords per encoder window; None = the encoder's limit
    window_context_words: int = 16  # words of context around each window's core
    dropout: float = 0.1
    encoder_config: dict | None = None  # the (possibly truncated) encoder's HF config
    weights_from_encoder: list[str] = field(default_factory=list)  # saved without these; loaded from `encoder`
    model_type: str = ""
    precision: str = "fp32"  # how the encoder is stored and run (spandec.models.runtime.PRECISIONS)

    def to_dict(self) -> dict:
        """Plain dict for config.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "NERConfig":
        """Build from a config.json dict, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class NERModel(Windowing, nn.Module):
    """Base class: encoder + strategy head, with Hugging Face style save/load and ``predict``."""

    config_class: ClassVar[type[NERConfig]] = NERConfig
    model_type: ClassVar[str] = ""
    model_types: ClassVar[tuple[str, ...]] = ()  # config.json model_type values this class loads (aliases)
    label_layers: ClassVar[tuple[str, ...]] = ("classifier",)  # modules whose output rows are output_rows

    # ----- what the strategy can do: callers ask these, never the strategy's name -----------------
    #: scores candidate spans of up to ``config.max_span_words`` words (gold entities longer than that are unreachable)
    enumerates_spans: ClassVar[bool] = False
    #: has SpanDec's span decoder: per-span scores and decoder attention a viewer shows (:mod:`spandec.models.explain`)
    has_span_decoder: ClassVar[bool] = False
    #: options ``predict`` hands to :meth:`score_windows` (e.g. ``threshold``); any other is an error
    predict_options: ClassVar[tuple[str, ...]] = ()
    #: what the ONNX forms export ("encoder", "decoder"); empty: no ONNX form, ``onnx_refusal`` says why
    onnx_parts: ClassVar[tuple[str, ...]] = ("encoder",)
    onnx_refusal: ClassVar[str] = ""
    #: CPU precisions ``auto`` serves, fastest first (the first this machine runs; else fp32): the forms whose F1 stayed
    #: within 0.3 of fp32 in comparisons/results/serving.md. Unmeasured strategies: bf16 only.
    auto_precisions: ClassVar[tuple[str, ...]] = ("bf16",)
    #: Appendix D GFLOP/s on the reference machine (2 CPU cores, torch 2.13, MiniLM-L6), what the app's cost model
    #: (:mod:`spandec.app.cost`) divides a request's GFLOPs by; unmeasured strategies get the slowest rate measured
    cpu_gflops_per_second: ClassVar[float] = 20.0

    def __init__(self, config: NERConfig, encoder: nn.Module, tokenizer: Any):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.tokenizer = tokenizer
        config.model_type = self.model_type
        config.encoder_config = encoder.config.to_dict()
        self.id2label = ["O"] + list(config.labels)
        self.label2id = {label: i for i, label in enumerate(self.id2label)}
        limit = max_text_length(encoder.config, tokenizer)
        self.window_subwords = min(config.window_subwords or limit, limit)  # as in the config: special tokens included
        self.runtime = TorchRuntime()  # how the encoder runs (spandec.models.runtime)
        config.precision = self.runtime.precision

    def set_window(self, subwords: int) -> None:
        """Cap encoder windows at ``subwords`` (special tokens included), recorded in the config for inference."""
        limit = max_text_length(self.encoder.config, self.tokenizer)
        if not 8 <= subwords <= limit:
            raise ValueError(f"window of {subwords} subwords: expected 8 to {limit} (the encoder's limit)")
        self.config.window_subwords = self.window_subwords = int(subwords)

    # ----- construction, saving, loading -------------------------------------------------
    @classmethod
    def encoder_layers(cls, config: NERConfig) -> int | None:
        """How many encoder layers the strategy keeps (None = all)."""
        return None

    @classmethod
    def from_encoder(cls, labels: Sequence[str], encoder: str = DEFAULT_ENCODER, **kwargs) -> "NERModel":
        """A new model on a pretrained encoder (local folder, Hub id, or the shipped default)."""
        config = cls.config_class(labels=list(labels), encoder=encoder, **kwargs)
        enc, removed = load_encoder(encoder, cls.encoder_layers(config))
        return cls(config, enc, load_tokenizer(encoder), removed_layers=removed)

    def save_pretrained(self, path: str | os.PathLike, dtype: torch.dtype | None = None,
                        skip_unchanged: bool = False) -> None:
        """Write config.json, model.safetensors (optionally cast to ``dtype``) and the tokenizer to ``path``.

        ``skip_unchanged`` leaves out encoder tensors identical to the pretrained encoder's
        (e.g. frozen word embeddings); loading takes them from the pretrained encoder again.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = self.runtime.saved_state(self, self.state_dict())  # the precision's own form (int8, ONNX, ...)
        skipped = unchanged_encoder_keys(self) if skip_unchanged else []
        self.config.weights_from_encoder = [k for k in skipped if k in state]
        state = {k: v.detach().to("cpu", dtype=dtype if (dtype and v.is_floating_point()) else v.dtype).contiguous()
                 for k, v in state.items() if k not in skipped}
        save_file(state, str(path / WEIGHTS_NAME), metadata={"format": "pt"})
        self.config.precision = self.runtime.precision
        (path / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        self.tokenizer.save_pretrained(str(path))
        self.runtime.write_extra(self, path)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, device: str | torch.device | None = None,
                        precision: str | None = None) -> "NERModel":
        """Load a saved model of this class from a local folder or a Hub id (``spandec.load_model`` picks the class).

        ``precision`` (fp32, bf16, int8, onnx, onnx-int8, auto) overrides the one the folder was saved in.
        """
        path, data = read_saved_config(name_or_path)
        if data.get("model_type", "") not in (cls.model_type, *cls.model_types):
            raise ValueError(f"{name_or_path} holds a {data.get('model_type')!r} model, not {cls.model_type or 'a concrete'!r} "
                             "(load it with spandec.load_model)")
        config = cls.config_class.from_dict(data)
        saved = config.precision  # the model starts as fp32; set_precision below switches it
        encoder = encoder_from_config(config.encoder_config)
        model = cls(config, encoder, load_tokenizer(path, encoder.config), removed_layers=[])
        state = loadable_state(load_file(str(Path(path) / WEIGHTS_NAME)))
        if config.weights_from_encoder:  # tensors left as pretrained: take them from the encoder itself
            pretrained, _ = load_encoder(config.encoder)
            ref = pretrained.state_dict()
            state.update({k: ref[k.removeprefix("encoder.")] for k in config.weights_from_encoder})
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("encoder.") for k in missing) or (missing and not saved.startswith("onnx")):
            raise ValueError(f"{name_or_path}: weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
        precision = check_precision(precision or saved)
        if missing and not precision.startswith("onnx"):
            raise ValueError(f"{name_or_path} holds its encoder as ONNX only ({saved}); it cannot run {precision}")
        model._encoder_weights_loaded = not missing  # ONNX folders keep the encoder in encoder.onnx only
        model.eval()
        model = model.to(device or default_device())
        return set_precision(model, precision, path)

    def run_encoder(self, **inputs) -> torch.Tensor:
        """The encoder's last hidden states, through this model's backend (fp32, bf16, int8, ONNX Runtime)."""
        return self.runtime(self.encoder, **inputs)

    @property
    def encoder_hub_id(self) -> str | None:
        """The Hub id of the encoder it was initialised from (a model card's ``base_model``); None for a local folder."""
        return encoder_hub_id(self.config.encoder)

    @property
    def precision(self) -> str:
        """How the encoder runs: fp32, bf16, int8, onnx or onnx-int8."""
        return self.runtime.precision

    def push_to_hub(self, repo_id: str, token: str | None = None, private: bool = False, **card) -> str:
        """Upload to Hub model repo ``repo_id`` with a model card (``card``: ``hub.save_for_hub``'s options); its URL."""
        from ..hub import push_to_hub

        return push_to_hub(self, repo_id, token=token, private=private, **card)

    @classmethod
    def strategy_of(cls, config: NERConfig, threshold: float | None = None) -> str:
        """The strategy name a model of this class with ``config`` serves as (a class may serve several), called
        with the ``threshold`` option it is served at (None: its default)."""
        return cls.model_type

    @classmethod
    def filters_spans(cls, config: NERConfig) -> bool:
        """Whether a model of this class with ``config`` has a span filter (its ``threshold`` prunes spans)."""
        return False

    @property
    def strategy(self) -> str:
        """Strategy name: token, pl-marker, spandec or sf-spandec."""
        return self.strategy_of(self.config)

    @property
    def has_span_filter(self) -> bool:
        """Whether this model prunes spans by its word entity probabilities before decoding (SF-SpanDec)."""
        return self.filters_spans(self.config)

    @classmethod
    def strategy_settings(cls, strategy: str) -> dict:
        """Config settings that make a new model of this class the strategy ``strategy`` (``auto.new_model``)."""
        return {}

    def gflops(self, S: float, M: float, kept: float = 1.0) -> float:
        """Appendix D GFLOPs of this architecture on S subword tokens and M span queries (``kept``: the share of
        queries a span filter keeps), from the formulas in :mod:`spandec.flops`."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its FLOPs are counted (no gflops method)")

    def check_options(self, options: dict) -> None:
        """:class:`UnknownOption` naming any keyword of a ``predict`` call (``options``) this strategy does not take, and
        the ones it does."""
        unknown = [k for k in options if k not in self.predict_options and k not in SHARED_PREDICT_OPTIONS]
        if unknown:
            accepted = ", ".join((*SHARED_PREDICT_OPTIONS, *self.predict_options))
            raise UnknownOption(f"unknown option{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))} for a "
                            f"{self.strategy} model; accepted: {accepted}")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ----- hooks -------------------------------------------------------------------------
    def window_features(self, window: WindowInput, spans: Sequence[tuple[int, int, str]] | None = None) -> dict:
        """Features of one window; with ``spans`` (window-local gold entities) also its training labels."""
        raise NotImplementedError

    def collate(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        """Pad a list of features into batch tensors."""
        raise NotImplementedError

    def score_windows(self, features: Sequence[dict], pause: Callable[[], None] | None = None,
                      **options) -> tuple[list[Any], PredictStats]:
        """Run the model on a batch of inference features: one result per window, and the batch's stats.

        ``options`` are the class's ``predict_options`` (checked by :meth:`run_windows`); ``pause`` as there."""
        raise NotImplementedError

    def merge(self, windows: Sequence[WindowInput], results: Sequence[Any]) -> list[Candidate]:
        """Combine a document's window results into document-level candidates."""
        raise NotImplementedError

    def score_batches(self, batches: Sequence[Sequence[dict]], pause: Callable[[], None] | None = None,
                      **options) -> list[tuple[list[Any], PredictStats]]:
        """:meth:`score_windows` of each batch (one encoder pass each) in turn, ``pause()`` between them: one (results,
        stats) per batch. A strategy may share work between batches (SpanDec's span decoder)."""
        return each_batch(batches, lambda feats: self.score_windows(feats, pause=pause, **options), pause)

    # ----- prediction --------------------------------------------------------------------
    def training_features(self, words: Sequence[str], entities: Sequence[tuple[int, int, str]],
                          report: dict[str, int] | None = None) -> list[dict]:
        """Training features of a sentence: one per window, gold entities made window-local.

        ``report`` counts gold entities this strategy cannot learn: ``too_long`` (span models,
        over ``max_span_words``) and ``cut`` (not inside the window that owns their first word).
        """
        feats = []
        windows = self.windows(words)
        for win in windows:
            lo, hi = win.offset, win.offset + len(win.word_first)
            local = [(s - lo, e - lo, t) for s, e, t in entities if lo <= s and e <= hi]
            feats.append(self.window_features(win, local))
        if report is not None:
            for s, e, _ in entities:
                owner = next(w for w in windows if w.offset + w.core[0] <= s < w.offset + w.core[1])
                if e > owner.offset + len(owner.word_first):
                    report["cut"] = report.get("cut", 0) + 1
                elif self.enumerates_spans and e - s > self.config.max_span_words:
                    report["too_long"] = report.get("too_long", 0) + 1
        return feats

    @torch.no_grad()
    def run_windows(self, docs: Sequence[Document], batch_size: int = 8, score: Callable | None = None,
                    pause: Callable[[], None] | None = None,
                    **options) -> tuple[list[list[tuple[WindowInput, Any]]], PredictStats]:
        """Score every window of ``docs`` in batches of one window length (:func:`same_length_batches`): per document its (window, result) pairs, and the stats.

        ``score`` (features -> (results, stats)) scores each batch instead of :meth:`score_batches` (viewers scoring
        every span).
        ``pause`` is called between forward passes (a server yields its model lock there, or cancels by raising).
        ``options`` must be among the strategy's ``predict_options`` (else :class:`UnknownOption`).
        """
        self.check_options(options)
        self.eval()
        windows = self.all_windows(docs)
        results: list[Any] = [None] * len(windows)
        stats = PredictStats()
        batches = same_length_batches(windows, batch_size)  # never padded: a window's numbers depend on it alone
        features = [[self.window_features(windows[k]) for k in idx] for idx in batches]
        with self.autocast():
            if score is None:
                scored = self.score_batches(features, pause=pause, **options)
            else:
                scored = each_batch(features, score, pause)
            for idx, (outs, batch_stats) in zip(batches, scored):
                for k, out in zip(idx, outs):
                    results[k] = out
                stats = stats + batch_stats
        per_doc: list[list[tuple[WindowInput, Any]]] = [[] for _ in docs]
        for w, r in zip(windows, results):
            per_doc[w.doc].append((w, r))
        return per_doc, stats

    def predict_candidates(self, docs: Sequence[Document], batch_size: int = 8, pause: Callable[[], None] | None = None,
                           **options) -> tuple[list[list[Candidate]], PredictStats]:
        """Document-level candidates (before decoding) for each document, and the work it took."""
        per_doc, stats = self.run_windows(docs, batch_size, pause=pause, **options)
        return [self.merge([w for w, _ in pairs], [r for _, r in pairs]) for pairs in per_doc], stats

    def predict(
        self,
        inputs: str | Sequence[str] | Sequence[str | Sequence[str]],
        batch_size: int = 8,
        flat: bool = True,
        min_score: float = 0.0,
        **options,
    ) -> list[dict] | list[list[dict]]:
        """Entities of a text, a list of words, or a list of either (then one list per input).

        A list of strings counts as one pre-split sentence unless an item holds whitespace,
        in which case it is a list of texts. ``flat=False`` returns every span with a score of
        at least ``min_score`` (overlaps allowed); options go to the strategy (its ``predict_options``, e.g.
        ``threshold``); any other raises :class:`UnknownOption` (a ``TypeError``) naming it.
        """
        single = isinstance(inputs, str) or (
            isinstance(inputs, (list, tuple)) and len(inputs) > 0 and all(isinstance(x, str) for x in inputs)
            and not any(any(ch.isspace() for ch in x) for x in inputs)
        )
        out = self.predict_batch([inputs] if single else list(inputs), batch_size, flat, min_score, **options)
        return out[0] if single else out

    def predict_batch(self, items: Sequence[str | Sequence[str]], batch_size: int = 8, flat: bool = True,
                      min_score: float = 0.0, **options) -> list[list[dict]]:
        """Entities of each item (a text or a list of words): always one list per item."""
        return self.predict_with_stats(items, batch_size, flat, min_score, **options).entities

    def predict_with_stats(self, items: Sequence[str | Sequence[str]], batch_size: int = 8, flat: bool = True,
                           min_score: float = 0.0, pause: Callable[[], None] | None = None, **options) -> Prediction:
        """Like :meth:`predict_batch`, returning the entities with the call's :class:`PredictStats`
        (``pause``: see :meth:`run_windows`)."""
        docs = [Document.from_input(x) for x in items]
        cands, stats = self.predict_candidates(docs, batch_size=batch_size, pause=pause, **options)
        cands = [visible_candidates(doc, c) for doc, c in zip(docs, cands)]
        return Prediction([entity_dicts(doc, decode(c, flat=flat, min_score=min_score)) for doc, c in zip(docs, cands)],
                          stats)

    def autocast(self):
        """Mixed precision on CUDA (bf16 where supported, else fp16: ``gpu.autocast_dtype``); on CPU the
        encoder backend's (bf16 autocast for the bf16 and int8 forms, else none)."""
        if self.device.type == "cuda":
            dtype = autocast_dtype(self.device)
            return torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()
        return self.runtime.autocast()

    @property
    def output_rows(self) -> list[str]:
        """Names of the rows of label-sized output layers (the classes the head scores)."""
        return self.id2label

    def with_labels(self, labels: Sequence[str]) -> tuple["NERModel", list[str]]:
        """A copy for a new label set: every weight kept, output rows of shared labels (and O) copied.

        Returns the new model and the names of the output rows that start from fresh weights.
        """
        config = replace(self.config, labels=list(labels))
        model = type(self)(config, copy.deepcopy(self.encoder), self.tokenizer, removed_layers=[])
        old_rows = {name: i for i, name in enumerate(self.output_rows)}
        source, fresh = self.state_dict(), set()
        state = model.state_dict()
        for key, value in state.items():
            old = source[key]
            if key.startswith("encoder."):  # already a deep copy
                continue
            if key.split(".")[0] not in self.label_layers:
                state[key] = old.clone()
                continue
            for i, name in enumerate(model.output_rows):  # label-sized: rows follow their names
                if name in old_rows:
                    value[i] = old[old_rows[name]]
                else:
                    fresh.add(name)
        model.load_state_dict(state)
        return model.to(self.device), sorted(fresh)

    def as_strategy(self, strategy: str) -> "NERModel":
        """This model trained on as ``strategy`` (a warm start); a class that can become another strategy says so."""
        if strategy != self.strategy:
            raise ValueError(f"a {self.strategy} model cannot be trained on as {strategy}")
        return self

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(pretrained encoder parameters, new parameters) for the 10x learning rate of new weights."""
        pretrained = {id(p) for p in self.encoder.parameters()}
        params = list(self.parameters())
        return [p for p in params if id(p) in pretrained], [p for p in params if id(p) not in pretrained]


def each_batch(batches: Sequence[Any], score: Callable[[Any], Any], pause: Callable[[], None] | None = None) -> list:
    """``score`` of each batch in turn, ``pause()`` between two of them (not after the last)."""
    out = []
    for b, batch in enumerate(batches):
        out.append(score(batch))
        if pause is not None and b + 1 < len(batches):
            pause()
    return out


def unchanged_encoder_keys(model: NERModel) -> list[str]:
    """State-dict keys of encoder tensors still identical to the pretrained encoder's."""
    try:
        pretrained, _ = load_encoder(model.config.encoder)
    except Exception:  # encoder not available: store everything
        return []
    ref = pretrained.state_dict()
    return [
        f"encoder.{k}" for k, v in model.encoder.state_dict().items()
        if k in ref and type(v) is torch.Tensor and ref[k].shape == v.shape and torch.equal(ref[k], v.detach().to("cpu", ref[k].dtype))
    ]


def visible_candidates(doc: Document, candidates: Sequence[Candidate]) -> list[Candidate]:
    """``candidates`` without those that start or end on a word with nothing visible (:func:`spandec.text.is_blank_word`)."""
    blank = [is_blank_word(w) for w in doc.words]
    if not any(blank):
        return list(candidates)
    return [c for c in candidates if not (blank[c.start] or blank[c.end - 1])]


def pad(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-pad integer sequences into a 2-D tensor."""
    width = max((len(s) for s in seqs), default=0)
    out = np.full((len(seqs), max(width, 1)), value, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return torch.from_numpy(out)


def length_mask(lengths: Sequence[int]) -> torch.Tensor:
    """Boolean (N, max(lengths, 1)) mask, true on the first ``lengths[i]`` entries of row i (as ``pad`` pads)."""
    n = torch.as_tensor(list(lengths), dtype=torch.long)
    return torch.arange(max(int(n.max()) if len(n) else 0, 1))[None, :] < n[:, None]


def default_device() -> torch.device:
    """CUDA when available (or on ZeroGPU), else CPU."""
    return select_device(None)


def read_saved_config(name_or_path: str | os.PathLike) -> tuple[str, dict]:
    """The local folder of a saved model (a folder or a Hub id, downloaded) and its config.json as a dict."""
    path = _local_path(str(name_or_path))
    config_file = Path(path) / CONFIG_NAME
    if not config_file.is_file():
        raise FileNotFoundError(f"{name_or_path}: no {CONFIG_NAME}; not a spandec model folder")
    try:
        return path, json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{config_file}: not a valid JSON config ({exc})") from None


def _local_path(name_or_path: str) -> str:
    if os.path.isdir(name_or_path):
        return name_or_path
    from ..hub import is_hub_id, snapshot

    if not is_hub_id(name_or_path):
        raise FileNotFoundError(f"{name_or_path}: no such model folder (and not a Hub id of the form org/name)")
    return snapshot(name_or_path)
