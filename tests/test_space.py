"""The demo as a Space: the built file set and its constraints, Hub model repos (offline), the GPU path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spandec import gpu, hub, space
from spandec.cli import main as cli_main

from test_app_support import build_tiny_models

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The Space assembled by ``spandec space build`` (with its start-up check), and what the command printed."""
    out = tmp_path_factory.mktemp("space") / "space"
    proc = subprocess.run([sys.executable, "-m", "spandec.cli", "space", "build", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


@pytest.fixture(scope="module")
def tiny_models(tiny_encoder, tmp_path_factory):
    return build_tiny_models(tiny_encoder, tmp_path_factory.mktemp("tiny-models"))


# ----- the Space's file set ----------------------------------------------------------------------
def test_space_file_set(built):
    out, printed = built
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"app.py", "requirements.txt", "README.md", ".gitattributes", "data/examples.txt",
            "comparisons/results/conllpp.json", "spandec/__init__.py", "spandec/gpu.py"} <= files
    for name in ("token", "pl-marker", "spandec", "sf-spandec"):
        assert {f"data/checkpoints/{name}/model.safetensors", f"data/checkpoints/{name}/config.json"} <= files
    assert not any("__pycache__" in f or f.startswith(("tests/", "runs/")) for f in files)
    total = sum((out / f).stat().st_size for f in files)
    assert f"{total / 2**20:.1f} MiB in all" in printed  # the total size is stated


def test_space_constraints(built):
    out, _ = built
    front = space.front_matter(out / "README.md")
    pins = space.pinned_requirements(out / "requirements.txt")
    assert front["sdk"] == "gradio" and front["sdk_version"] == pins["gradio"]
    assert (out / front["app_file"]).is_file() and front["python_version"]
    assert "spaces" in pins and "huggingface-hub" in pins
    rules = space.lfs_patterns(out / ".gitattributes")
    big = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.stat().st_size > space.MAX_PLAIN_BYTES]
    assert len(big) == 4 and all(space.lfs_covered(p, rules) for p in big)  # the four checkpoints' weights
    assert space.check_space(out, ROOT / "pyproject.toml", check_imports=False) == []


def test_space_problems_are_found(built, tmp_path):
    out = tmp_path / "space"
    shutil.copytree(built[0], out)
    (out / "data" / "big.dat").write_bytes(b"\0" * (space.MAX_PLAIN_BYTES + 1))
    req = out / "requirements.txt"
    req.write_text(req.read_text().replace("gradio==", "gradio>=") + "\n")
    readme = out / "README.md"
    readme.write_text(readme.read_text().replace("app_file: app.py", "app_file: main.py", 1))
    problems = " | ".join(space.check_space(out, check_imports=False))
    assert "data/big.dat" in problems and "not pinned with ==" in problems and "main.py" in problems
    req.write_text(re.sub(r"^torch==.*$", "torch==1.0.0", req.read_text().replace("gradio>=", "gradio=="), flags=re.M))
    problems = " | ".join(space.check_space(out, ROOT / "pyproject.toml", check_imports=False))
    assert "torch==1.0.0, outside pyproject" in problems
    with pytest.raises(ValueError, match="not empty"):
        space.build(built[0])


def test_gitattributes_matching(tmp_path):
    ga = tmp_path / ".gitattributes"
    ga.write_text("# comment\n*.safetensors filter=lfs diff=lfs merge=lfs -text\ndata/*.bin filter=lfs -text\n"
                  "data/**/*.npz filter=lfs\nsmall.safetensors -filter\n*.txt text\n")
    rules = space.lfs_patterns(ga)
    assert space.lfs_covered("data/checkpoints/x/model.safetensors", rules)
    assert space.lfs_covered("model.safetensors", rules)
    assert not space.lfs_covered("deep/small.safetensors", rules)  # a later rule unsets it
    assert space.lfs_covered("data/w.bin", rules) and not space.lfs_covered("other/w.bin", rules)
    assert space.lfs_covered("data/a.npz", rules) and space.lfs_covered("data/a/b/c.npz", rules)
    assert not space.lfs_covered("notes.txt", rules)


# ----- Hub model repos (offline) -----------------------------------------------------------------
def test_model_card_and_folder(tiny_models, tmp_path, one_thread):
    from spandec import load_model

    model = load_model(tiny_models["sf-spandec"], device="cpu")
    card = hub.model_card(model, dataset="conllpp", f1=84.46, name="me/sf")
    meta, body = hub.split_front_matter(card)
    assert "library_name: spandec" in meta and "- sf-spandec" in meta and "- ner" in meta
    assert "- conllpp" in meta and "value: 84.46" in meta and "type: f1" in meta
    assert "spandec.load_model(\"me/sf\")" in body
    with pytest.raises(ValueError, match="dataset"):
        hub.model_card(model, f1=80.0)
    rc = cli_main(["push", tiny_models["sf-spandec"], "me/sf", "--dataset", "conllpp", "--f1", "84.46",
                   "--dry-run", str(tmp_path / "repo")])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == [
        "README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    again = load_model(tmp_path / "repo", device="cpu")
    assert again.strategy == "sf-spandec" and again.predict("Paris is big .", threshold=0.0) is not None
    assert hub.split_front_matter((tmp_path / "repo" / "README.md").read_text())[0] == meta


HUB_LOAD = """
import sys
from spandec import load_model
from spandec.app.pool import ModelPool, ModelSpec
m = load_model("org/tiny-token", device="cpu")
pool = ModelPool.load([ModelSpec("T", "org/tiny-token")], device="cpu", log=lambda m: None)
assert pool.get("T").model.strategy == "token"
print(m.strategy, m.predict("Paris is big ."))
"""


@pytest.mark.parametrize("offline", [True, False])
def test_load_from_hub_cache(tiny_models, tmp_path, offline):
    """A model in the Hub cache loads by its id: with HF_HUB_OFFLINE, and when the Hub cannot be reached."""
    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--org--tiny-token"
    shutil.copytree(tiny_models["token"], repo / "snapshots" / rev)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(tmp_path / "hub"), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    else:  # a Hub that refuses connections: the download fails at once, the cache answers
        env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_ETAG_TIMEOUT="2", HF_HUB_DOWNLOAD_TIMEOUT="2")
    proc = subprocess.run([sys.executable, "-c", HUB_LOAD], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("token")
    env["HF_HUB_CACHE"] = str(tmp_path / "empty")
    proc = subprocess.run([sys.executable, "-c", HUB_LOAD], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and "org/tiny-token: not a local folder, not in the Hub cache" in proc.stderr


# ----- the GPU path ------------------------------------------------------------------------------
def test_gpu_helpers(monkeypatch):
    def tag(x: int) -> int:
        return x + 1

    assert not gpu.zero_gpu() or os.environ.get("SPACES_ZERO_GPU")
    assert gpu.on_gpu(tag) is tag  # off ZeroGPU the decorator changes nothing
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert gpu.zero_gpu() and gpu.on_gpu(tag)(1) == 2
    monkeypatch.delenv("SPACES_ZERO_GPU")
    cpu = torch.device("cpu")
    assert gpu.autocast_dtype(cpu) is None and gpu.describe(cpu).startswith("running on cpu, fp32")
    assert gpu.select_device("cpu") == cpu
    if not torch.cuda.is_available():
        assert gpu.select_device(None) == cpu
        with pytest.raises(ValueError, match="CUDA is not available"):
            gpu.select_device("cuda")
    else:
        dtype = gpu.autocast_dtype(torch.device("cuda"))
        assert dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def test_app_shows_device(tiny_models):
    import app

    ctx = app.make_context(app.parse_args(["--models", f"T={tiny_models['token']}", "--device", "cpu"]), app.ROOT)
    assert ctx.pool.wait(120)
    assert ctx.runtime.startswith("running on cpu, fp32")
    assert ctx.pool.get("T").model.device.type == "cpu"


def test_gpu_benchmark_on_cpu(tiny_models, tmp_path, one_thread):
    sys.path.insert(0, str(ROOT / "comparisons"))
    try:
        import gpu_benchmark
    finally:
        sys.path.remove(str(ROOT / "comparisons"))
    data = ROOT / "data" / "fixtures" / "overfit.conll"
    models = [f"Token={tiny_models['token']}", f"SpanDec={tiny_models['sf-spandec']}@0",
              f"SF-SpanDec={tiny_models['sf-spandec']}"]
    args = ["--data", str(data), "--out", str(tmp_path), "--rounds", "2"] + [f"--model={m}" for m in models]
    if not torch.cuda.is_available():
        assert gpu_benchmark.main(args) == 3  # no GPU: a clear message, nothing measured
        assert not list(tmp_path.iterdir())
    assert gpu_benchmark.main(args + ["--device", "cpu", "--limit", "200"]) == 0
    result = json.loads((tmp_path / "gpu_benchmark-cpu.json").read_text())
    assert result["sentences"] == 20 and result["precision"] == "fp32" and result["batch_size"] == 8
    rows = result["models"]
    assert rows["Token"]["ratio_to_token"] == 1.0 and rows["SpanDec"]["strategy"] == "spandec"
    assert all(len(r["runs"]) == 2 and r["samples_per_second"] > 0 for r in rows.values())
    assert "| SF-SpanDec | sf-spandec |" in (tmp_path / "gpu_benchmark-cpu.md").read_text()
