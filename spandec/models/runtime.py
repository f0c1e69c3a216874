"""Encoder (and span decoder) backends: the one place that knows how a model runs and is stored per precision.

Every strategy calls its encoder through ``model.run_encoder(...)``, which hands the call to ``model.runtime``, one of:

- ``fp32``: the torch module as it is (training, reference predictions);
- ``bf16``: the encoder's weights cast to bfloat16, its output cast back to float32, linear layers in row blocks;
- ``int8``: torchao's dynamic int8 quantisation of the encoder's ``nn.Linear`` layers (per-row activation scales);
- ``onnx`` / ``onnx-int8``: the encoder exported to ONNX (dynamic batch and length axes) and run by an
  ``onnxruntime.InferenceSession``; ``onnx-int8`` quantises its weight matmuls with per-row (per-token) activation
  scales (:func:`spandec.models.int8.quantize_rows_int8`), so a text's answer does not depend on its batch.
  SpanDec / SF-SpanDec with one decoder layer also export their span decoder and classifier (``SpanDecModel.decoder_graphs``, two exact forms picked
  per call) and run it in a second session, int8 likewise.

The span filter's word head and the span bookkeeping stay float32 (numpy on CPU), so which spans are decoded is decided exactly
given the encoder's states; other heads run bf16 autocast for bf16 (matmuls bf16, softmax and norms float32) and
float32 for every other form (for the int8 forms float32 heads measured faster than bf16 autocast: SF-SpanDec onnx-int8
0.66 s vs 0.78 s CPU time per 300 CoNLL++ sentences at batch 8, torchao int8 1.29 s vs 1.44 s, one thread, interleaved
runs). No number depends on the batch (``run_windows`` never pads windows; bf16: :class:`RowBlockLinear`). A folder's
config.json records its ``precision``; ``load_model`` picks it up (or converts on load when another is asked for; ONNX
conversions are cached per weights file, see :func:`cache_dir`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .int8 import quantize_rows, quantize_rows_int8

PRECISIONS = ("fp32", "bf16", "int8", "onnx", "onnx-int8")
CONFIG_NAME = "config.json"  # a saved model folder's settings (NERConfig), with its ``precision``
WEIGHTS_NAME = "model.safetensors"  # its torch weights
ONNX_NAME = "encoder.onnx"
EXPORT_VERSION = 10  # bump when what an export writes changes: cached conversions are then made anew
DECODER_NAMES = {"rows": "decoder.onnx", "spans": "decoder_spans.onnx"}  # SpanDec's decoder graph forms (decoder_graph)
SCALE_SUFFIX = ".int8_scale"  # int8 folders: weight tensors stored as int8 with one float scale per output row


def check_precision(value: Any) -> str:
    """A precision name from :data:`PRECISIONS` or "auto" (resolved per model by :func:`auto_precision`), else ValueError."""
    name = str(value).lower()
    if name != "auto" and name not in PRECISIONS:
        raise ValueError(f"unknown precision {value!r}; expected one of {', '.join(PRECISIONS)} or auto")
    return name


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX): the one probe, for serving's auto and
    training's ``--bf16``."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def has_onnxruntime() -> bool:
    """Whether the ``onnxruntime`` package is installed."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def auto_precision(device: str | torch.device | None = None, model: Any = None) -> str:
    """The serving default for ``model``: on CPU the first of its ``auto_precisions`` (fastest first: the forms whose
    F1 stayed within 0.3 of fp32 in comparisons/results/serving.md) this machine runs (ONNX forms need
    onnxruntime and an ONNX form of the model, bf16 a CPU with native bfloat16), else fp32; on CUDA, fp32
    (predict already runs fp16 autocast)."""
    on_cpu = not torch.cuda.is_available() if device is None else torch.device(device).type == "cpu"
    if not on_cpu:
        return "fp32"
    for precision in getattr(model, "auto_precisions", ()):
        if precision.startswith("onnx") and (not getattr(model, "onnx_parts", ()) or not has_onnxruntime()):
            continue
        if precision == "bf16" and not native_bf16():
            continue
        return check_precision(precision)
    return "fp32"


class TorchRuntime:
    """fp32: the encoder module as it is."""

    precision = "fp32"
    #: the encoder runs as its torch modules (so a model may call its layers itself); False for exported graphs
    runs_modules = True

    def prepare(self, model: nn.Module, folder: str | os.PathLike | None = None) -> None:
        """Convert ``model.encoder`` in place for this backend (``folder``: where it was loaded from)."""

    def __call__(self, encoder: nn.Module, **inputs) -> torch.Tensor:
        return encoder(**inputs).last_hidden_state

    def autocast(self) -> contextlib.AbstractContextManager:
        """The precision of everything after the encoder on CPU (decoder, heads): float32 here."""
        return contextlib.nullcontext()

    def saved_state(self, model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The tensors a folder of this precision stores (beside config.json)."""
        return state

    def write_extra(self, model: nn.Module, path: Path) -> None:
        """Write files besides model.safetensors (the ONNX encoder)."""


class BF16Runtime(TorchRuntime):
    """bf16: encoder weights bfloat16, states back as float32; every ``nn.Linear`` a :class:`RowBlockLinear`."""

    precision = "bf16"

    def prepare(self, model, folder=None) -> None:
        model.encoder.to(torch.bfloat16)
        for module in model.modules():
            if type(module) is nn.Linear:
                module.__class__ = RowBlockLinear  # same parameters and state dict keys

    def __call__(self, encoder, **inputs) -> torch.Tensor:
        if "inputs_embeds" in inputs:
            inputs["inputs_embeds"] = inputs["inputs_embeds"].to(torch.bfloat16)
        if inputs.get("attention_mask") is not None and inputs["attention_mask"].is_floating_point():
            inputs["attention_mask"] = inputs["attention_mask"].to(torch.bfloat16)
        return encoder(**inputs).last_hidden_state.float()

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16)


class RowBlockLinear(nn.Linear):
    """``nn.Linear`` in blocks of at most :attr:`rows` input rows. oneDNN's bf16 GEMM splits a row's sum by the row count:
    up to 32 rows each row comes out as alone, above that (1536 inputs) not, by up to 0.03 on the encoder's states."""

    rows = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).contiguous()  # strided inputs take yet another path
        blocks = [nn.functional.linear(block, self.weight, self.bias) for block in flat.split(self.rows)]
        out = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
        return out.reshape(*x.shape[:-1], out.shape[-1])


class Int8Runtime(TorchRuntime):
    """int8: torchao's int8 activations (a scale per row: none from the batch) x int8 weights in each encoder Linear."""

    precision = "int8"

    def prepare(self, model, folder=None) -> None:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, PerRow, quantize_

        quantize_(model.encoder, Int8DynamicActivationInt8WeightConfig(granularity=PerRow()))

    def __call__(self, encoder, **inputs) -> torch.Tensor:
        return encoder(**inputs).last_hidden_state.float()

    def saved_state(self, model, state):
        out = {}
        for key, value in state.items():
            if key.startswith("encoder.") and key.endswith(".weight") and _is_linear(model, key):
                weight = value.dequantize() if hasattr(value, "dequantize") else value
                q, scale = quantize_rows(weight.float())
                out[key], out[key + SCALE_SUFFIX] = q, scale
            else:
                out[key] = value
        return out


class OrtRuntime(TorchRuntime):
    """onnx / onnx-int8: the encoder, and SpanDec's one-layer span decoder, run in ONNX Runtime sessions (CPU);
    the span filter's word head and the span bookkeeping stay float32 outside the sessions."""

    runs_modules = False

    def __init__(self, precision: str):
        self.precision = precision
        self.session = None
        self.decoder_sessions: dict[str, Any] = {}  # decoder form ("rows", "spans") -> its session
        self.onnx_path: Path | None = None
        self.decoder_paths: dict[str, Path] = {}
        self._tmp: tempfile.TemporaryDirectory | None = None  # conversions of models saved nowhere

    def prepare(self, model, folder=None) -> None:
        if not model.onnx_parts:
            raise ValueError(f"ONNX Runtime is not supported for {model.strategy}: {model.onnx_refusal}; "
                             "use --precision bf16 or int8")
        quantize = self.precision == "onnx-int8"
        self.onnx_path = self._file(model, folder, ONNX_NAME, lambda path: export_onnx(model.encoder, path, quantize))
        self.session = _session(self.onnx_path)
        hidden = model.encoder.config.hidden_size
        for form, graph in ((model.decoder_graphs() if "decoder" in model.onnx_parts else None) or {}).items():
            export = lambda path, graph=graph: export_decoder_onnx(graph, hidden, path, quantize)  # noqa: E731
            self.decoder_paths[form] = self._file(model, folder, DECODER_NAMES[form], export)
            self.decoder_sessions[form] = _session(self.decoder_paths[form])

    def _file(self, model, folder, name: str, export) -> Path:
        """``name`` from a folder saved in this precision, else converted once into the cache (or a temporary folder)."""
        found = Path(folder) / name if folder is not None else None
        if found is not None and found.is_file() and _folder_precision(folder) == self.precision:
            return found
        if name == ONNX_NAME and not _has_encoder_weights(model):
            raise ValueError(f"{folder}: holds an ONNX encoder of another precision and no torch encoder weights")
        cached = _cache_path(folder, self.precision, name)
        if cached is not None:
            with _conversion_lock(cached):  # threads converting one model: the first converts, the others reuse it
                if cached.is_file():
                    return cached
                try:  # a file of its own per conversion: other processes converting at once never collide
                    fd, tmp_name = tempfile.mkstemp(prefix=f"{cached.stem}.", suffix=".tmp.onnx", dir=cached.parent)
                    os.close(fd)
                except OSError as exc:
                    print(f"spandec: the ONNX cache {cached.parent} is not writable ({exc.strerror}); converting into a "
                          "temporary folder instead (set $SPANDEC_CACHE to a writable folder to keep conversions)",
                          file=sys.stderr)
                else:
                    tmp = Path(tmp_name)
                    try:
                        export(tmp)
                        os.replace(tmp, cached)  # atomic: concurrent loaders never read half a file
                    finally:
                        tmp.unlink(missing_ok=True)
                    return cached
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="spandec-onnx-")
        return export(Path(self._tmp.name) / name)

    def __call__(self, encoder, input_ids=None, attention_mask=None, **other) -> torch.Tensor:
        if other:
            raise ValueError(f"the ONNX encoder takes input_ids and attention_mask only, not {', '.join(other)}")
        feed = {"input_ids": input_ids.cpu().numpy(), "attention_mask": attention_mask.cpu().numpy()}
        return torch.from_numpy(self.session.run(None, feed)[0])

    @property
    def run_decoder(self):
        """``(z, attention_mask, batch_idx, starts, ends, filtered) -> logits (K, labels)`` through the decoder session,
        or None."""
        return self._run_decoder if self.decoder_sessions else None

    def _run_decoder(self, z, attention_mask, batch_idx, starts, ends, filtered: bool = False) -> torch.Tensor:
        from .decoder_graph import decoder_call

        return decoder_call(self.decoder_sessions, z, attention_mask, batch_idx, starts, ends, filtered)

    def saved_state(self, model, state):
        # the ONNX files hold the encoder (and decoder); torch keeps the rest (the heads, SpanDec's position table)
        return {k: v for k, v in state.items() if not k.startswith("encoder.") or "position_embeddings" in k}

    def write_extra(self, model, path) -> None:
        import shutil

        shutil.copyfile(self.onnx_path, path / ONNX_NAME)
        for form, source in self.decoder_paths.items():
            shutil.copyfile(source, path / DECODER_NAMES[form])


def _session(path: Path):
    """An ONNX Runtime CPU session: torch's thread count, no spinning between runs (models in one process take turns)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def make_runtime(precision: str) -> TorchRuntime:
    """A fresh backend for ``precision``."""
    precision = check_precision(precision)
    if precision.startswith("onnx"):
        return OrtRuntime(precision)
    return {"fp32": TorchRuntime, "bf16": BF16Runtime, "int8": Int8Runtime}[precision]()


def set_precision(model: nn.Module, precision: str, folder: str | os.PathLike | None = None) -> nn.Module:
    """Switch an fp32 model (in eval mode, on CPU for ONNX) to ``precision`` ("auto": :func:`auto_precision`
    for its device and strategy) in place; returns it."""
    precision = check_precision(precision)
    if precision == "auto":
        precision = auto_precision(model.device, model)
    current = getattr(model, "runtime", TorchRuntime()).precision
    if precision == current:
        return model
    if current != "fp32":
        raise ValueError(f"the model already runs {current}; load it again to use {precision}")
    if precision.startswith("onnx") and model.device.type != "cpu":
        raise ValueError(f"precision {precision} runs on CPU only (ONNX Runtime CPU provider), not {model.device}")
    runtime = make_runtime(precision)
    runtime.prepare(model.eval(), folder)
    model.runtime = runtime
    model.config.precision = precision
    return model


def loadable_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A saved state as float32 torch tensors (int8 rows times their scales; bf16 widened)."""
    out = {}
    for key, value in state.items():
        if key.endswith(SCALE_SUFFIX):
            continue
        if key + SCALE_SUFFIX in state:
            value = value.float() * state[key + SCALE_SUFFIX][:, None]
        out[key] = value.float() if value.is_floating_point() else value
    return out


class _LastHidden(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def export_onnx(encoder: nn.Module, path: str | os.PathLike, quantize: bool = False) -> Path:
    """Write ``encoder`` (input_ids, attention_mask -> last hidden state; dynamic batch and length) as ONNX, its
    weight matmuls int8 with per-row activation scales when ``quantize`` (:func:`quantize_rows_int8`)."""
    dummy = (torch.ones(2, 12, dtype=torch.long), torch.ones(2, 12, dtype=torch.long))
    dynamic = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
               "last_hidden_state": {0: "batch", 1: "length"}}
    return _export(_LastHidden(encoder), dummy, ["input_ids", "attention_mask"], ["last_hidden_state"], dynamic,
                   path, quantize)


def export_decoder_onnx(graph: nn.Module, hidden: int, path: str | os.PathLike, quantize: bool = False) -> Path:
    """Write a SpanDec decoder graph (one of ``SpanDecModel.decoder_graphs()``: its ``input_names`` -> logits; dynamic
    batch, length and span count) as ONNX, its weight matmuls per-row int8 when ``quantize``."""
    from .decoder_graph import graph_feed

    batch_idx, starts, ends = torch.tensor([[0, 1, 1], [1, 2, 4], [1, 5, 4]])
    feed = graph_feed(type(graph), torch.randn(2, 12, hidden), torch.ones(2, 12, dtype=torch.long), batch_idx, starts, ends)
    axes = {"z": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"}, "batch_idx": {0: "spans"},
            "starts": {0: "spans"}, "ends": {0: "spans"}, "slots": {0: "batch", 1: "width"}, "place": {0: "spans"}}
    names = list(graph.input_names)
    dummy = tuple(torch.from_numpy(feed[name]) for name in names)
    return _export(graph, dummy, names, ["logits"], {k: axes[k] for k in names} | {"logits": {0: "spans"}}, path,
                   quantize)


def _export(module: nn.Module, dummy: tuple, inputs: list[str], outputs: list[str], dynamic: dict,
            path: str | os.PathLike, quantize: bool) -> Path:
    """Trace ``module`` to ONNX at ``path``; its weight matmuls per-row int8 (:func:`quantize_rows_int8`) when ``quantize``."""
    import warnings

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_suffix(".fp32.onnx") if quantize else path
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), dummy, str(raw), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    if quantize:
        quantize_rows_int8(raw, path)
        raw.unlink()
    return path


def _is_linear(model: nn.Module, key: str) -> bool:
    try:
        return isinstance(model.get_submodule(key.removesuffix(".weight")), nn.Linear)
    except AttributeError:
        return False


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _conversion_lock(path: Path) -> threading.Lock:
    """The lock of one cache file (one conversion at a time per file in this process)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


def _has_encoder_weights(model: nn.Module) -> bool:
    return bool(getattr(model, "_encoder_weights_loaded", True))


def cache_dir() -> Path:
    """Where converted encoders are kept: ``$SPANDEC_CACHE``, else ``$XDG_CACHE_HOME/spandec``, else ~/.cache/spandec."""
    if os.environ.get("SPANDEC_CACHE"):
        return Path(os.environ["SPANDEC_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spandec"


def _cache_path(folder: str | os.PathLike | None, precision: str, name: str = ONNX_NAME) -> Path | None:
    """The cache file ``name`` (encoder or decoder graph) of ``folder`` converted to ``precision``, keyed by the folder's
    weights file (path, size, modification time), the onnxruntime and torch versions and :data:`EXPORT_VERSION`;
    None when there is no folder or no writable cache."""
    import hashlib

    import onnxruntime

    weights = Path(folder) / WEIGHTS_NAME if folder is not None else None
    if weights is None or not weights.is_file():
        return None
    stat = weights.stat()
    key = (f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{precision}|{onnxruntime.__version__}|{torch.__version__}"
           f"|{EXPORT_VERSION}")
    where = cache_dir() / "onnx"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return where / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}-{precision}-{name}"


def _folder_precision(folder: str | os.PathLike) -> str:
    import json

    try:
        return json.loads((Path(folder) / CONFIG_NAME).read_text()).get("precision", "fp32")
    except (OSError, ValueError):
        return "fp32"
