"""Encoder backends (spandec/models/runtime.py): every exported precision loads back by itself and
gives the fp32 model's entities on tiny random models, up to stated tolerances."""

from __future__ import annotations

import json

import pytest
import torch

import spandec
from spandec.cli import main
from spandec.models.runtime import PRECISIONS, auto_precision, cache_dir, check_precision, native_bf16, quantize_rows
from spandec.spans import Document

from model_helpers import MODEL_KW, make

TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday .",
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn",
    "The European Commission said on Thursday it disagreed with German advice to consumers to shun British lamb "
    "until scientists determine whether mad cow disease can be transmitted to sheep .",
]
# Tolerances: onnx is the same float32 graph (scores within 1e-4, same entities); bf16 and the int8
# forms round weights and activations: span scores within 0.08, at least 85 % of the fp32 spans
# (all spans with flat=False, overlaps allowed) found with the same label.
TOLERANCE = {"fp32": (1e-6, 1.0), "onnx": (1e-4, 1.0), "bf16": (0.08, 0.85), "int8": (0.08, 0.85),
             "onnx-int8": (0.08, 0.85)}


def triples(preds) -> dict[tuple, float]:
    return {(e["word_start_index"], e["word_end_index"], e["label"]): e["score"] for doc in preds for e in doc}


@pytest.fixture(scope="module")
def fp32_models(tiny_encoder, tmp_path_factory, one_thread):
    """One saved tiny fp32 model per strategy (weights scaled up so scores are far from uniform)."""
    out = {}
    for strategy in ("token", "sf-spandec", "spandec", "pl-marker"):
        model = make(strategy, tiny_encoder, **MODEL_KW).eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.startswith(("classifier", "token_head")):
                    p.mul_(8.0)
        path = tmp_path_factory.mktemp(strategy) / "fp32"
        model.save_pretrained(path)
        out[strategy] = (model, path)
    return out


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("strategy", ["token", "sf-spandec", "spandec"])
def test_exported_precision_matches_fp32(fp32_models, tmp_path, strategy, precision) -> None:
    model, path = fp32_models[strategy]
    options = {"threshold": 0.3} if strategy == "sf-spandec" else {}
    want = triples(model.predict(TEXTS, flat=False, **options))
    assert len(want) > 10  # the tiny model predicts plenty of spans
    out = tmp_path / precision
    assert main(["export", str(path), str(out), "--format", precision]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["precision"] == precision
    assert (out / "encoder.onnx").is_file() == precision.startswith("onnx")
    onnx_decoder = precision.startswith("onnx") and strategy != "token"  # the span decoder runs in ONNX Runtime too
    assert (out / "decoder.onnx").is_file() == (out / "decoder_spans.onnx").is_file() == onnx_decoder
    loaded = spandec.load_model(out, device="cpu")  # the folder's precision is picked up
    assert loaded.precision == precision
    assert (getattr(loaded.runtime, "run_decoder", None) is not None) == onnx_decoder
    got = triples(loaded.predict(TEXTS, flat=False, **options))
    score_tol, agree = TOLERANCE[precision]
    same = [k for k in want if k in got]
    assert len(same) >= agree * len(want) and len(got) <= len(want) / agree + 1, (len(same), len(want), len(got))
    assert max(abs(want[k] - got[k]) for k in same) <= score_tol


def test_precision_on_load_and_cli(fp32_models, capsys) -> None:
    model, path = fp32_models["sf-spandec"]
    assert spandec.load_model(path, device="cpu", precision="bf16").encoder.embeddings.word_embeddings.weight.dtype \
        == torch.bfloat16
    assert spandec.load_model(path, device="cpu").precision == "fp32"
    assert main(["predict", str(path), "--text", TEXTS[0], "--precision", "onnx", "--threshold", "0.3"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert [e["span"] for e in line["entities"]] == [e["span"] for e in model.predict(TEXTS[0], threshold=0.3)]
    with pytest.raises(ValueError, match="unknown precision"):
        check_precision("fp8")


def test_bad_precision_cli(fp32_models, capsys) -> None:
    _, path = fp32_models["token"]
    with pytest.raises(SystemExit):
        main(["evaluate", str(path), "x.conll", "--precision", "fp8"])
    assert "unknown precision 'fp8'" in capsys.readouterr().err


def test_pl_marker_refuses_onnx_but_runs_bf16_and_int8(fp32_models, tmp_path, capsys) -> None:
    model, path = fp32_models["pl-marker"]
    with pytest.raises(ValueError, match="not supported for pl-marker"):
        spandec.load_model(path, device="cpu", precision="onnx")
    assert main(["export", str(path), str(tmp_path / "o"), "--format", "onnx-int8"]) == 2
    assert "not supported for pl-marker" in capsys.readouterr().err
    want = triples(model.predict(TEXTS, flat=False))
    for precision in ("bf16", "int8"):
        got = triples(spandec.load_model(path, device="cpu", precision=precision).predict(TEXTS, flat=False))
        assert len(set(want) & set(got)) >= 0.85 * len(want)


def test_onnx_folder_cannot_run_torch(fp32_models, tmp_path) -> None:
    _, path = fp32_models["token"]
    assert main(["export", str(path), str(tmp_path / "o"), "--format", "onnx"]) == 0
    with pytest.raises(ValueError, match="ONNX only"):
        spandec.load_model(tmp_path / "o", device="cpu", precision="fp32")


def test_int8_folder_stores_int8_rows() -> None:
    w = torch.randn(6, 10)
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and q.abs().max() == 127
    assert torch.allclose(q.float() * scale[:, None], w, atol=float(scale.max()) / 2 + 1e-6)
    q2, scale2 = quantize_rows(q.float() * scale[:, None])  # re-quantising on load gives the same rows
    assert torch.equal(q, q2) and torch.allclose(scale, scale2)


def test_all_windows_matches_windows(fp32_models) -> None:
    model, _ = fp32_models["sf-spandec"]
    long_doc = " ".join(TEXTS * 3).split()
    docs = [Document.from_input(x) for x in (TEXTS[0], [], long_doc, TEXTS[2], ["\u200b", "Paris"])]
    want = [w for d, doc in enumerate(docs) for w in model.windows(doc.words, d)]
    assert model.all_windows(docs) == want
    assert len(model.windows(long_doc)) > 1


def test_app_pool_serves_precisions(fp32_models) -> None:
    from spandec.app.pool import ModelPool, ModelSpec, parse_spec

    assert parse_spec("SF (int8)=a/b@0.3#onnx-int8") == ModelSpec("SF (int8)", "a/b", 0.3, "onnx-int8")
    assert str(parse_spec("X=folder#bf16")) == "X=folder#bf16"
    with pytest.raises(ValueError, match="unknown precision"):
        parse_spec("X=folder#fp8")
    _, path = fp32_models["sf-spandec"]
    pool = ModelPool.load([ModelSpec("SF", str(path)), ModelSpec("SF fast", str(path), precision="onnx")],
                          device="cpu", log=lambda m: None, precision="bf16")
    rows = {r[0]: r for r in pool.status_rows()}
    assert rows["SF"][4] == "bf16" and rows["SF fast"][4] == "onnx"
    assert pool.get("SF").label == "SF (bf16)" and pool.get("SF fast").label == "SF fast (onnx)"
    assert pool.get("SF").model is not pool.get("SF fast").model


def test_auto_serves_the_fastest_form_per_strategy(fp32_models) -> None:
    """auto: onnx-int8 on CPU where the strategy has an ONNX form that kept F1 (token, SpanDec, SF-SpanDec); PL-Marker
    (no ONNX form) runs bf16 (native) or fp32."""
    assert check_precision("AUTO") == "auto"
    model = {strategy: m for strategy, (m, _) in fp32_models.items()}
    assert {auto_precision("cpu", model[s]) for s in ("token", "spandec", "sf-spandec")} == {"onnx-int8"}
    assert auto_precision("cpu", model["pl-marker"]) == ("bf16" if native_bf16() else "fp32")
    assert auto_precision("cuda", model["sf-spandec"]) == "fp32"
    for strategy in ("token", "spandec", "pl-marker"):
        _, path = fp32_models[strategy]
        assert spandec.load_model(path, device="cpu", precision="auto").precision == auto_precision("cpu", model[strategy])


def test_onnx_conversion_is_cached_per_weights_file(fp32_models, tmp_path) -> None:
    """The first ONNX load of a folder converts and caches; later loads reuse the file; new weights convert anew."""
    import copy

    model = copy.deepcopy(fp32_models["token"][0])  # changed below: never the shared fixture
    folder = tmp_path / "m"
    model.save_pretrained(folder)
    before = set((cache_dir() / "onnx").glob("*.onnx")) if (cache_dir() / "onnx").is_dir() else set()
    first = spandec.load_model(folder, device="cpu", precision="onnx")
    made = set((cache_dir() / "onnx").glob("*.onnx")) - before
    assert len(made) == 1 and first.runtime.onnx_path in made
    stamp = first.runtime.onnx_path.stat().st_mtime_ns
    second = spandec.load_model(folder, device="cpu", precision="onnx")
    assert second.runtime.onnx_path == first.runtime.onnx_path and second.runtime.onnx_path.stat().st_mtime_ns == stamp
    assert triples(second.predict(TEXTS, flat=False)) == triples(first.predict(TEXTS, flat=False))
    with torch.no_grad():
        model.encoder.embeddings.word_embeddings.weight.mul_(1.5)
    model.save_pretrained(folder)  # new weights: a new cache entry, with the new encoder's states
    third = spandec.load_model(folder, device="cpu", precision="onnx")
    assert third.runtime.onnx_path != first.runtime.onnx_path
    want = triples(model.predict(TEXTS, flat=False))
    got = triples(third.predict(TEXTS, flat=False))
    assert max(abs(want[k] - got[k]) for k in want if k in got) <= 1e-4


def test_app_pool_auto_serves_and_names_the_fast_form(fp32_models) -> None:
    """The app's default (--precision auto) serves onnx-int8 on CPU where the strategy has it and says so."""
    from spandec.app.pool import ModelPool, ModelSpec

    pool = ModelPool.load([ModelSpec("SF", str(fp32_models["sf-spandec"][1])), ModelSpec("PLM", str(fp32_models["pl-marker"][1]))],
                          device="cpu", log=lambda m: None, precision="auto")
    rows = {r[0]: r for r in pool.status_rows()}
    assert rows["SF"][4] == "onnx-int8" and rows["PLM"][4] == auto_precision("cpu", fp32_models["pl-marker"][0])
    assert pool.get("SF").label == "SF (onnx-int8)"


@pytest.fixture
def read_only_cache(tmp_path, monkeypatch):
    """``$SPANDEC_CACHE`` pointing at a folder (with its ``onnx`` subfolder) that cannot be written: a read-only
    bind mount as root (root ignores file modes), folder modes otherwise."""
    import os
    import subprocess

    src = tmp_path / "cache"
    (src / "onnx").mkdir(parents=True)
    if os.geteuid() != 0:
        (src / "onnx").chmod(0o555)
        monkeypatch.setenv("SPANDEC_CACHE", str(src))
        yield src
        (src / "onnx").chmod(0o755)
        return
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "--bind", "-o", "ro", str(src), str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot make a read-only bind mount here (needs mount rights as root)")
    monkeypatch.setenv("SPANDEC_CACHE", str(mnt))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_read_only_cache_converts_in_a_temporary_folder(fp32_models, read_only_cache, capsys) -> None:
    """An unwritable ONNX cache is named on stderr and the model still loads (converted into a temporary folder)."""
    model, folder = fp32_models["token"]
    loaded = spandec.load_model(folder, device="cpu", precision="onnx")
    assert "is not writable" in capsys.readouterr().err
    assert not loaded.runtime.onnx_path.is_relative_to(read_only_cache) and loaded.runtime.onnx_path.is_file()
    want, got = triples(model.predict(TEXTS, flat=False)), triples(loaded.predict(TEXTS, flat=False))
    assert want.keys() == got.keys() and max(abs(want[k] - got[k]) for k in want) <= 1e-4


def test_two_threads_converting_one_model_share_one_file(fp32_models, tmp_path, monkeypatch) -> None:
    """Two threads loading the same folder as ONNX at once: both load, one conversion, no temporary file left."""
    import threading

    monkeypatch.setenv("SPANDEC_CACHE", str(tmp_path / "cache"))
    folder = fp32_models["sf-spandec"][1]
    results, errors = [], []
    start = threading.Barrier(2)

    def load() -> None:
        try:
            start.wait()
            results.append(spandec.load_model(folder, device="cpu", precision="onnx"))
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    assert results[0].runtime.onnx_path == results[1].runtime.onnx_path
    files = sorted(p.name for p in (tmp_path / "cache" / "onnx").iterdir())
    assert len(files) == 3 and not any(".tmp" in f for f in files)  # encoder and the two decoder graphs, nothing else
    assert triples(results[0].predict(TEXTS[:2])) == triples(results[1].predict(TEXTS[:2]))
