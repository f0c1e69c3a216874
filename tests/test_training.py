"""Tests of spandec.training: resuming, best checkpoint, learning rates, and a 2-process DDP run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import spandec
from spandec.evaluation import evaluate
from spandec import load_model
from spandec.training import TrainingArgs, make_optimizer, make_scheduler, train

REPO = Path(__file__).resolve().parent.parent
OVERFIT = REPO / "data" / "fixtures" / "overfit.conll"
LABELS = ["LOC", "MISC", "ORG", "PER"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(overfit_data):
    return overfit_data


def make(strategy, encoder, **kwargs):
    torch.manual_seed(0)
    return spandec.new_model(strategy, LABELS, encoder, max_span_words=4, **kwargs)


def args(out, **kwargs) -> TrainingArgs:
    base = dict(output_dir=str(out), batch_size=4, per_device_batch_size=4, learning_rate=1e-3, progress=False)
    return TrainingArgs(**(base | kwargs))


def test_resume_after_interruption(tiny_encoder, data, tmp_path, capsys) -> None:
    train_data = data[:8]  # 2 steps per epoch
    # "interrupted": stops after 3 optimizer steps, in the middle of epoch 2
    first = train(make("spandec", tiny_encoder), train_data, None, args(tmp_path, epochs=3, max_steps=3))
    assert first["steps"] == 3
    assert [(h["epoch"], h["step"]) for h in first["history"]] == [(1, 2), (2, 3)]
    saved = torch.load(tmp_path / "last" / "trainer_state.pt", weights_only=False)
    assert saved["state"]["step"] == 3 and saved["state"]["epoch"] == 2
    checkpoint = load_model(tmp_path / "last", device="cpu").state_dict()
    capsys.readouterr()

    # rerun with more epochs: picks up last/ (weights, optimizer, schedule) and goes on counting
    model = make("spandec", tiny_encoder)
    resumed_weights = {}
    original_train = model.train

    def spy(mode=True):  # the weights at the start of the first resumed epoch
        if mode and not resumed_weights:
            resumed_weights.update({k: v.clone() for k, v in model.state_dict().items()})
        return original_train(mode)

    model.train = spy
    second = train(model, train_data, None, args(tmp_path, epochs=5))
    assert "resumed from" in capsys.readouterr().out
    assert all(torch.equal(resumed_weights[k], v) for k, v in checkpoint.items())
    assert second["steps"] == 9
    assert [(h["epoch"], h["step"]) for h in second["history"]] == [(1, 2), (2, 3), (3, 5), (4, 7), (5, 9)]
    saved = torch.load(tmp_path / "last" / "trainer_state.pt", weights_only=False)
    assert saved["state"]["epoch"] == 5 and saved["state"]["step"] == second["steps"]

    # a finished run resumed with the same settings has nothing left to do
    third = train(make("spandec", tiny_encoder), train_data, None, args(tmp_path, epochs=5))
    assert third["steps"] == second["steps"] and len(third["history"]) == 5
    # resume=False starts over
    fresh = train(make("spandec", tiny_encoder), train_data, None, args(tmp_path, epochs=1, resume=False))
    assert fresh["steps"] == 2 and len(fresh["history"]) == 1


def test_resume_within_an_epoch(tiny_encoder, data, tmp_path, capsys) -> None:
    """A run killed mid-epoch resumes from its last mid-epoch save (weights, optimizer, schedule, random state and
    place in the epoch) and ends with the weights of a run that was never stopped."""
    train_data = data[:16]  # 4 optimizer steps per epoch
    whole = make("spandec", tiny_encoder)
    train(whole, train_data, None, args(tmp_path / "whole", epochs=2))

    model, calls = make("spandec", tiny_encoder), {"n": 0}
    forward = model.forward

    def dies_in_step_3(*a, **k):  # a kill after two mid-epoch saves
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return forward(*a, **k)

    model.forward = dies_in_step_3
    with pytest.raises(KeyboardInterrupt):
        train(model, train_data, None, args(tmp_path / "cut", epochs=2, save_every_minutes=1e-9))
    saved = torch.load(tmp_path / "cut" / "last" / "trainer_state.pt", weights_only=False)["state"]
    assert (saved["epoch"], saved["step"], saved["micro_done"], len(saved["epoch_losses"])) == (0, 2, 2, 2)
    capsys.readouterr()
    resumed = make("spandec", tiny_encoder)
    result = train(resumed, train_data, None, args(tmp_path / "cut", epochs=2, save_every_minutes=1e-9))
    assert "and 2 micro-batches of epoch 1" in capsys.readouterr().out
    assert result["steps"] == 8 and [h["step"] for h in result["history"]] == [4, 8]
    expected = whole.state_dict()
    assert all(torch.allclose(v, expected[k], atol=1e-6) for k, v in resumed.state_dict().items())
    final = torch.load(tmp_path / "cut" / "last" / "trainer_state.pt", weights_only=False)["state"]
    assert "micro_done" not in final and final["epoch"] == 2


def test_resume_linear_schedule_with_more_epochs(tiny_encoder, data, tmp_path) -> None:
    train_data = data[:8]
    first = train(make("token", tiny_encoder), train_data, None, args(tmp_path, epochs=1, schedule="linear"))
    assert first["steps"] == 2
    second = train(make("token", tiny_encoder), train_data, None, args(tmp_path, epochs=3, schedule="linear"))
    assert second["steps"] == 6 and [h["step"] for h in second["history"]] == [2, 4, 6]


def test_best_checkpoint_is_saved(tiny_encoder, data, tmp_path) -> None:
    model = make("token", tiny_encoder)
    result = train(model, data, data[:10], args(tmp_path, epochs=4, learning_rate=5e-3))
    dev_f1 = [h["dev"]["f1"] for h in result["history"]]
    assert len(dev_f1) == 4 and result["best_f1"] == max(dev_f1)
    assert max(dev_f1) > 0  # the model learns something
    best = load_model(tmp_path / "best", device="cpu")
    assert evaluate(best, data[:10])["f1"] == result["best_f1"]
    for sub in ("best", "last"):
        assert (tmp_path / sub / "model.safetensors").is_file() and (tmp_path / sub / "config.json").is_file()
    assert (tmp_path / "last" / "trainer_state.pt").is_file()

    # without dev data the latest epoch is the best
    out = tmp_path / "nodev"
    model = make("token", tiny_encoder)
    train(model, data[:4], None, args(out, epochs=1))
    best = load_model(out / "best", device="cpu")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in best.state_dict().items())


@pytest.mark.parametrize("strategy", ["token", "pl-marker", "spandec", "sf-spandec"])
def test_new_weights_get_ten_times_the_learning_rate(tiny_encoder, strategy) -> None:
    model = make(strategy, tiny_encoder)
    pretrained, new = model.parameter_groups()
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    assert {id(p) for p in pretrained} == encoder_ids
    assert {id(p) for p in new} == {id(p) for p in model.parameters()} - encoder_ids
    assert id(model.classifier.weight) in {id(p) for p in new}
    optimizer = make_optimizer(model, TrainingArgs(output_dir="unused", learning_rate=2e-5))
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    assert len(lr_of) == len(list(model.parameters()))  # every parameter exactly once
    for name, p in model.named_parameters():
        lr, decay = lr_of[id(p)]
        assert lr == pytest.approx(2e-5 if id(p) in encoder_ids else 2e-4), name
        assert decay == (0.01 if p.ndim > 1 else 0.0), name
    # the schedule keeps the ratio
    scheduler = make_scheduler(optimizer, TrainingArgs(output_dir="unused"), total_steps=10)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    for name, p in model.named_parameters():
        group = next(g for g in optimizer.param_groups if any(q is p for q in g["params"]))
        base = next(g for g in optimizer.param_groups if any(id(q) in encoder_ids for q in g["params"]))
        assert group["lr"] / base["lr"] == pytest.approx(1.0 if id(p) in encoder_ids else 10.0), name


def test_ddp_two_processes(tiny_encoder, tmp_path) -> None:
    out = tmp_path / "ddp"
    text = OVERFIT.read_text().strip().split("\n\n")
    (tmp_path / "tiny.conll").write_text("\n\n".join(text[:6]) + "\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["CUDA_VISIBLE_DEVICES"] = ""  # gloo on CPU
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "spandec.cli", "train", "--strategy", "sf-spandec", "--train", str(tmp_path / "tiny.conll"),
        "--dev", str(tmp_path / "tiny.conll"), "--output", str(out), "--encoder", tiny_encoder,
        "--epochs", "2", "--batch-size", "4", "--per-device-batch-size", "2", "--max-span-words", "4", "--quiet",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "training.json").read_text())
    assert summary["world_size"] == 2
    assert summary["strategy"] == "sf-spandec" and summary["train_sentences"] == 6
    # 6 sentences, 2 per process and step: 2 steps per epoch
    assert summary["steps"] == 4 and [h["step"] for h in summary["history"]] == [2, 4]
    assert all("dev" in h for h in summary["history"])
    model = load_model(out / "best", device="cpu")
    assert model.strategy == "sf-spandec"
    assert (out / "last" / "trainer_state.pt").is_file()


@pytest.mark.parametrize("schedule", ["onecycle", "linear"])
def test_resumed_longer_run_follows_the_new_schedule(schedule) -> None:
    """Resuming with more epochs continues at the lr a run planned that long has at that step (not at ~0)."""
    from spandec.training import _resized_schedule, load_optimizer_state, make_optimizer, make_scheduler

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(2, 2)
            self.head = torch.nn.Linear(2, 2)

        def parameter_groups(self):
            return list(self.encoder.parameters()), list(self.head.parameters())

    args = TrainingArgs(output_dir="unused", schedule=schedule)
    first = Tiny()
    opt = make_optimizer(first, args)
    sched = make_scheduler(opt, args, 10)
    for _ in range(10):  # a finished 10-step run: lr decayed to ~0
        opt.step()
        sched.step()
    resumed = Tiny()
    opt2 = make_optimizer(resumed, args)
    sched2 = make_scheduler(opt2, args, 20)  # as train() does: the new run's length, then the saved state
    saved = opt.state_dict()
    for group in saved["param_groups"]:  # checkpoints written before peak_lr was recorded
        group.pop("peak_lr", None)
    load_optimizer_state(opt2, saved)
    sched2.load_state_dict(sched.state_dict())
    sched2 = _resized_schedule(opt2, sched2, args, 20, 10)
    planned = make_scheduler(make_optimizer(Tiny(), args), args, 20)
    for _ in range(10):
        planned.optimizer.step()
        planned.step()
    assert [g["lr"] for g in opt2.param_groups] == pytest.approx([g["lr"] for g in planned.optimizer.param_groups])
    assert opt2.param_groups[0]["lr"] > 0.2 * args.learning_rate
