"""Which models the web app serves: specs from flags, environment or a config file, and the loaded pool.

A spec is ``NAME=SOURCE`` where SOURCE is a local folder or a Hub id, optionally
followed by ``@THRESHOLD`` to pin the SF-SpanDec threshold (``SF-at-0=...sf-spandec@0``
serves the SF-SpanDec weights as plain SpanDec) and by ``#PRECISION`` to run it in another
precision than the pool's (``SF-SpanDec (int8)=...sf-spandec#onnx-int8``). A model that fails to load keeps its
error message, shown in the UI; the other models still work.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..hub import is_hub_id, snapshot
from ..models import SpanDecConfig, load_model, saved_class
from ..models.runtime import CONFIG_NAME, check_precision
from ..spans import check_threshold

__all__ = [
    "ModelSpec", "LoadedModel", "ModelPool", "DEFAULT_SPECS", "ENV_VAR", "CONFIG_ENV_VAR", "parse_spec",
    "parse_specs", "specs_from_file", "resolve_specs", "serving_config",
]

ENV_VAR = "SPANDEC_MODELS"
CONFIG_ENV_VAR = "SPANDEC_APP_CONFIG"


@dataclass(frozen=True)
class ModelSpec:
    """A model to serve: display name, folder or Hub id, and an optional pinned SF threshold."""

    name: str
    source: str
    threshold: float | None = None
    precision: str | None = None  # None: the pool's (the app's --precision)

    def __str__(self) -> str:
        return (f"{self.name}={self.source}" + ("" if self.threshold is None else f"@{self.threshold:g}")
                + ("" if self.precision is None else f"#{self.precision}"))


DEFAULT_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("Token", "data/checkpoints/token"),
    ModelSpec("PL-Marker", "data/checkpoints/pl-marker"),
    ModelSpec("SpanDec", "data/checkpoints/spandec"),
    ModelSpec("SF-SpanDec", "data/checkpoints/sf-spandec"),
)


def parse_spec(text: str) -> ModelSpec:
    """Parse ``NAME=SOURCE[@THRESHOLD][#PRECISION]`` (or a bare SOURCE, named after its last path part)."""
    text = text.strip()
    body, hash_, precision = text.rpartition("#")
    if hash_:
        try:
            precision = check_precision(precision)
        except ValueError as exc:
            raise ValueError(f"model spec {text!r}: {exc}") from None
        text = body
    name, sep, source = text.partition("=")
    if not sep:
        name, source = Path(text.rstrip("/")).name or text, text
    name, source = name.strip(), source.strip()
    threshold = None
    head, at, tail = source.rpartition("@")
    if at:
        try:
            threshold = float(tail)
        except ValueError:
            head = None
        if head is not None:
            source = head
            try:
                check_threshold(threshold)
            except ValueError as exc:
                raise ValueError(f"model spec {text!r}: {exc}") from None
    if not name or not source:
        raise ValueError(f"model spec {text!r}: expected NAME=PATH_OR_HUB_ID[@THRESHOLD]")
    return ModelSpec(name, source, threshold, precision if hash_ else None)


def parse_specs(items: Iterable[str]) -> list[ModelSpec]:
    """Parse several specs; each item may itself hold comma-separated specs (as in ``$SPANDEC_MODELS``)."""
    specs = [parse_spec(part) for item in items for part in str(item).split(",") if part.strip()]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
    return specs


def specs_from_file(path: str | os.PathLike) -> list[ModelSpec]:
    """Specs from a JSON or TOML file: ``{"models": {NAME: SOURCE | {"path": .., "threshold": ..}}}`` or a list."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".toml":
        import tomllib

        data = tomllib.loads(text)
    else:
        data = json.loads(text)
    models = data.get("models", data) if isinstance(data, dict) else data
    items: list[tuple[str, Any]]
    if isinstance(models, dict):
        items = list(models.items())
    elif isinstance(models, list):
        items = [(m.get("name", ""), m) if isinstance(m, dict) else ("", m) for m in models]
    else:
        raise ValueError(f"{path}: expected a 'models' table or list")
    specs = []
    for name, value in items:
        if isinstance(value, str):
            spec = parse_spec(f"{name}={value}" if name else value)
        elif isinstance(value, dict) and isinstance(value.get("path", value.get("source")), str):
            thr, precision = value.get("threshold"), value.get("precision")
            unknown = sorted(set(value) - {"name", "path", "source", "threshold", "precision"})
            if unknown:
                raise ValueError(f"{path}: model {name!r}: unknown option {unknown[0]!r} (path, threshold, precision)")
            source = value.get("path", value.get("source"))
            spec = parse_spec(f"{name or value.get('name', '')}={source}" + ("" if thr is None else f"@{thr}")
                              + ("" if precision is None else f"#{precision}"))
        else:
            raise ValueError(f"{path}: model {name!r} needs a path (string or {{'path': ...}})")
        specs.append(spec)
    return parse_specs(str(s) for s in specs)


def serving_config(spec: ModelSpec) -> dict:
    """The config file (:func:`specs_from_file`'s JSON form) that serves ``spec``: ``{"models": {NAME: {...}}}``."""
    body = {"path": spec.source} | ({} if spec.threshold is None else {"threshold": spec.threshold}) | (
        {} if spec.precision is None else {"precision": spec.precision})
    return {"models": {spec.name: body}}


def resolve_specs(cli: Sequence[str] | None = None, config_file: str | None = None,
                  environ: Mapping[str, str] | None = None) -> list[ModelSpec]:
    """The models to serve: ``--models`` flags, else the config file, else ``$SPANDEC_MODELS``, else the defaults."""
    environ = os.environ if environ is None else environ
    if cli:
        return parse_specs(cli)
    config_file = config_file or environ.get(CONFIG_ENV_VAR)
    if config_file:
        return specs_from_file(config_file)
    if environ.get(ENV_VAR, "").strip():
        return parse_specs([environ[ENV_VAR]])
    return list(DEFAULT_SPECS)


def _locate(source: str, base: Path | None = None) -> str:
    """A local folder for ``source``: as given, else relative to ``base`` (the app's folder), else a Hub download."""
    p = Path(source).expanduser()
    if p.is_dir():
        return str(p)
    if base is not None and not p.is_absolute() and (base / p).is_dir():
        return str(base / p)
    if is_hub_id(source):
        return snapshot(source)  # the Hub cache; the cached copy when offline
    raise FileNotFoundError(f"{source}: no such model folder (not trained or downloaded yet?)")


@dataclass
class LoadedModel:
    """One spec: its folder and config (read at once), its model (loaded now or in the background), or an error."""

    spec: ModelSpec
    model: Any = None
    error: str | None = None
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)  # the model's config.json
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def model_class(self) -> Any:
        """The served model's class (what it can do), from the model or, while it loads, its config.json."""
        return type(self.model) if self.model is not None else saved_class(self.meta)

    @property
    def config(self) -> Any:
        """The served model's config, or, while it loads, the one its config.json gives (None: unknown type)."""
        if self.model is not None:
            return self.model.config
        klass = saved_class(self.meta)
        return None if klass is None else klass.config_class.from_dict(self.meta)

    @property
    def base_strategy(self) -> str:
        """The saved model's strategy: token, pl-marker, spandec or sf-spandec."""
        klass = self.model_class
        return self.meta.get("model_type", "unknown") if klass is None else klass.strategy_of(self.config)

    @property
    def strategy(self) -> str:
        """The served strategy (a pinned threshold of 0 serves SF-SpanDec weights as spandec)."""
        klass = self.model_class
        return self.base_strategy if klass is None else klass.strategy_of(self.config, self.spec.threshold)

    @property
    def has_filter(self) -> bool:
        """Whether the model has a span filter (SF-SpanDec weights)."""
        klass = self.model_class
        return klass is not None and klass.filters_spans(self.config)

    @property
    def has_span_decoder(self) -> bool:
        """Whether the model has a span decoder (the span-filter and cross-attention views need one)."""
        return bool(getattr(self.model_class, "has_span_decoder", False))

    @property
    def labels(self) -> list[str]:
        return list(self.meta.get("labels", []))

    @property
    def precision(self) -> str:
        """How the served model's encoder runs (fp32, bf16, int8, onnx, onnx-int8)."""
        return self.model.precision if self.model is not None else (self.spec.precision or "-")

    @property
    def label(self) -> str:
        """The display name with its precision when that is not fp32 and the name does not say it."""
        p = self.precision
        return self.name if p in ("fp32", "-") or p in self.name else f"{self.name} ({p})"

    def options(self, threshold: float | None) -> dict:
        """Prediction options for a UI threshold: models that take one get it, pinned or given."""
        if "threshold" not in getattr(self.model_class, "predict_options", ()):
            return {}
        thr = self.spec.threshold if self.spec.threshold is not None else threshold
        return {} if thr is None else {"threshold": float(thr)}

    def threshold(self, threshold: float | None) -> float:
        """The threshold this model really uses for a UI threshold (0 for models without a span filter)."""
        if not self.has_filter:
            return 0.0
        return float(self.options(threshold).get("threshold", self.config.threshold))  # else the model's default

    def status(self) -> str:
        """loaded / loading / failed, for the UI."""
        if self.failed:
            return f"failed: {self.error}"
        if self.model is None:
            return "loading…"
        return f"loaded ({self.seconds:.1f} s)"


@dataclass
class ModelPool:
    """The served models, by display name, in the order given."""

    entries: dict[str, LoadedModel] = field(default_factory=dict)
    timeout: float = 600.0  # how long a request waits for a model still loading

    @classmethod
    def load(cls, specs: Sequence[ModelSpec], device: str | None = None, log=print,
             background: bool = False, base: str | Path | None = None, precision: str | None = None) -> "ModelPool":
        """Find every spec's folder and config now; load the weights now or in a background thread.

        Relative sources are looked up as given, then under ``base``. Failures are recorded in the
        entry (shown in the UI), never raised. The same folder is loaded once per precision.
        ``precision`` (e.g. auto) applies to specs without their own; None keeps each folder's.
        """
        pool, folders = cls(), {}
        for spec in specs:
            entry = LoadedModel(spec)
            try:
                folders[spec.name] = _locate(spec.source, Path(base) if base is not None else None)
                entry.meta = json.loads((Path(folders[spec.name]) / CONFIG_NAME).read_text(encoding="utf-8"))
            except Exception as exc:  # noqa: BLE001 - reported in the UI
                entry.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, FileNotFoundError) else str(exc)
                entry.ready.set()
                log(f"[spandec app] {spec.name}: not loaded ({entry.error})")
            pool.entries[spec.name] = entry

        def load_all() -> None:
            cache: dict[str, Any] = {}
            for name, entry in pool.entries.items():
                if entry.failed:
                    continue
                start = time.perf_counter()
                try:
                    where, prec = folders[name], entry.spec.precision or precision
                    if (where, prec) not in cache:
                        cache[(where, prec)] = load_model(where, device=device, precision=prec)
                    entry.model = cache[(where, prec)]
                    entry.seconds = time.perf_counter() - start
                    log(f"[spandec app] {name}: loaded in {entry.seconds:.1f} s on {entry.model.device}, "
                        f"precision {entry.model.precision}")
                except Exception as exc:  # noqa: BLE001 - reported in the UI
                    entry.error = f"{type(exc).__name__}: {exc}"
                    log(f"[spandec app] {name}: not loaded ({entry.error})")
                finally:
                    entry.ready.set()

        if background:
            threading.Thread(target=load_all, name="spandec-model-loader", daemon=True).start()
        else:
            load_all()
        return pool

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every model has loaded or failed; False on timeout."""
        return all(e.ready.wait(timeout) for e in self.entries.values())

    @property
    def names(self) -> list[str]:
        """Every spec name, available or not."""
        return list(self.entries)

    @property
    def available(self) -> list[str]:
        """Names of the models that loaded or are still loading (not failed)."""
        return [n for n, e in self.entries.items() if not e.failed]

    def default_threshold(self) -> float:
        """Where the app's threshold sliders start: the threshold of the first model served with a span filter (pinned by
        its spec, else the one recorded in its config.json, chosen on dev), else the config class's default."""
        for name in self.available:
            used = self.entries[name].threshold(None)  # 0: no filter, or its weights served with every span decoded
            if used > 0:
                return used
        return SpanDecConfig.threshold

    def span_models(self) -> list[str]:
        """Available models with a span decoder (the span-filter and cross-attention views need one)."""
        return [n for n in self.available if self.entries[n].has_span_decoder]

    def labels(self) -> list[str]:
        """Entity labels of all available models, first seen first."""
        return list(dict.fromkeys(label for n in self.available for label in self.entries[n].labels))

    def get(self, name: str) -> LoadedModel:
        """The loaded entry ``name`` (waiting while it loads); ``LookupError`` when unknown or failed."""
        entry = self.entries.get(name)
        if entry is None:
            known = ", ".join(self.names) or "none"
            raise LookupError(f"unknown model {name!r}; served models: {known}")
        if not entry.ready.wait(self.timeout):
            raise LookupError(f"model {name!r} is still loading; try again in a moment")
        if entry.model is None:
            raise LookupError(f"model {name!r} is not available: {entry.error}")
        return entry

    def status_rows(self) -> list[list[str]]:
        """One row per spec: name, source, strategy, device, precision, status."""
        return [[e.name, e.spec.source, e.strategy if not e.failed else "-",
                 str(e.model.device) if e.model is not None else "-", e.precision, e.status()]
                for e in self.entries.values()]
