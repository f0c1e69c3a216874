"""One training loop for all four strategies, with the paper's recipe.

AdamW (weight decay 0.01, none on biases and LayerNorms), lr 5e-5 for pretrained
weights and 10x for new ones, OneCycle (or linear) schedule with 3 % warm-up,
gradient clipping 1.0, effective batch 64 through accumulation, mixed precision on
GPU, dev evaluation after each epoch, the best checkpoint kept in ``best/``, and a
resumable checkpoint in ``last/``. Runs unchanged under ``torchrun`` (DDP: gloo on
CPU, nccl on GPU).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from .data import Sentence
from .evaluation import evaluate
from .gpu import autocast_dtype
from .models.runtime import WEIGHTS_NAME, native_bf16


@dataclass
class TrainingArgs:
    """Training settings; defaults follow the paper."""

    output_dir: str
    epochs: int = 3
    batch_size: int = 64  # effective batch (per device x devices x accumulation)
    per_device_batch_size: int = 16
    learning_rate: float = 5e-5
    new_weights_lr_factor: float = 10.0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.03
    schedule: str = "onecycle"  # or "linear"
    max_grad_norm: float = 1.0
    seed: int = 42
    mixed_precision: bool = True  # only on CUDA
    eval_batch_size: int = 32
    resume: bool = True
    progress: bool = True
    max_steps: int | None = None  # stop early (tests, smoke runs)
    group_by_length: bool = True  # batch sentences of similar length together (less padding)
    freeze_word_embeddings: bool = False  # keep the encoder's word embeddings as pretrained (smaller checkpoints)
    cpu_bf16: bool = False  # bf16 autocast on CPU (where the CPU supports bf16)
    save_every_minutes: float = 15.0  # also save OUTPUT/last mid-epoch this often (a resumed run goes on from there); 0: epoch ends only


def epoch_order(features: Sequence[dict], seed: int, per_step: int, group_by_length: bool = True) -> list[int]:
    """Shuffled feature order for one epoch, padded to a multiple of ``per_step``.

    With ``group_by_length``, chunks of 50 batches are sorted by length and their batches
    shuffled, as Hugging Face's length-grouped sampler does: far less padding, still random.
    """
    rng = random.Random(seed)
    order = list(range(len(features)))
    rng.shuffle(order)
    if group_by_length:
        chunk = per_step * 50
        grouped = []
        for c in range(0, len(order), chunk):
            part = sorted(order[c : c + chunk], key=lambda i: len(features[i]["input_ids"]))
            batches = [part[b : b + per_step] for b in range(0, len(part), per_step)]
            rng.shuffle(batches)
            grouped += [i for b in batches for i in b]
        order = grouped
    return order + order[: (-len(order)) % per_step]  # every rank gets the same number of micro-batches


def _dist() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup_distributed() -> tuple[int, int, torch.device]:
    """Join the torchrun process group when launched by torchrun; returns (rank, world size, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank, world = _dist()
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def make_optimizer(model, args: TrainingArgs) -> torch.optim.Optimizer:
    """AdamW with the base lr on pretrained weights and ``new_weights_lr_factor`` x on new ones; no decay on biases/norms."""
    pretrained, new = model.parameter_groups()
    pretrained = [p for p in pretrained if p.requires_grad]
    new = [p for p in new if p.requires_grad]
    groups = []
    for params, lr in ((pretrained, args.learning_rate), (new, args.learning_rate * args.new_weights_lr_factor)):
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups += [{"params": decay, "lr": lr, "peak_lr": lr, "weight_decay": args.weight_decay},
                   {"params": no_decay, "lr": lr, "peak_lr": lr, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]])


def make_scheduler(optimizer, args: TrainingArgs, total_steps: int):
    """OneCycle (linear anneal) or linear warm-up/decay, both with ``warmup_ratio`` warm-up."""
    total_steps = max(total_steps, 1)
    if args.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g.get("peak_lr", g["lr"]) for g in optimizer.param_groups], total_steps=total_steps,
            pct_start=args.warmup_ratio, anneal_strategy="linear", cycle_momentum=False,
        )
    if args.schedule == "linear":
        warm = max(1, int(total_steps * args.warmup_ratio))
        fn = lambda s: (s + 1) / warm if s < warm else max(0.0, (total_steps - s) / max(1, total_steps - warm))
        for g in optimizer.param_groups:  # the peak, also after a resumed optimizer's decayed lr was loaded
            g["initial_lr"] = g.get("peak_lr", g["lr"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
        scheduler.total_steps = total_steps  # saved with the state, so a resumed run of another length is noticed
        return scheduler
    raise ValueError(f"unknown schedule {args.schedule!r}; use onecycle or linear")


def train(model, train_data: Sequence[Sentence], dev_data: Sequence[Sentence] | None, args: TrainingArgs) -> dict:
    """Train ``model`` in place; returns the history (loss and dev scores per epoch) and the best dev F1."""
    rank, world, device = setup_distributed()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    model.to(device)
    if args.freeze_word_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    out = Path(args.output_dir)
    features, unlearnable = _training_features(model, train_data, report=rank == 0)
    per_step = args.per_device_batch_size * world
    accum = max(1, args.batch_size // per_step)
    micro_per_epoch = math.ceil(len(features) / per_step)
    steps_per_epoch = math.ceil(micro_per_epoch / accum)
    total = steps_per_epoch * args.epochs
    if args.max_steps:
        total = min(total, args.max_steps)
    optimizer = make_optimizer(model, args)
    scheduler = make_scheduler(optimizer, args, total)
    state = {"epoch": 0, "step": 0, "history": [], "best_f1": -1.0}
    if args.resume and (out / "last" / "trainer_state.pt").is_file():
        state = _load_checkpoint(model, optimizer, scheduler, out / "last", device)
        scheduler = _resized_schedule(optimizer, scheduler, args, total, state["step"])
        if rank == 0:
            within = f" and {state['micro_done']} micro-batches of epoch {state['epoch'] + 1}" if state.get("micro_done") else ""
            print(f"resumed from {out / 'last'} after epoch {state['epoch']}{within}", flush=True)
    wrapped = model
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    use_amp = args.mixed_precision and device.type == "cuda" or (args.cpu_bf16 and device.type == "cpu")
    if args.cpu_bf16 and device.type == "cpu" and not native_bf16():
        raise ValueError("--bf16: this CPU has no native bf16 (avx512_bf16 or AMX); train without it")
    amp_dtype = autocast_dtype(device) or torch.bfloat16  # CUDA: bf16 where supported, else fp16; CPU: bf16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    started = saved_at = time.time()
    for epoch in range(state["epoch"], args.epochs):
        if args.max_steps and state["step"] >= args.max_steps:
            break
        model.train()
        order = epoch_order(features, args.seed + epoch, per_step, args.group_by_length)
        shard = order[rank::world]
        done, losses = state.pop("micro_done", 0), state.pop("epoch_losses", [])  # a run resumed mid-epoch skips them
        bar = tqdm(total=steps_per_epoch, initial=done // accum, desc=f"epoch {epoch + 1}/{args.epochs}",
                   disable=not args.progress or rank != 0)
        micro = [shard[i : i + args.per_device_batch_size] for i in range(0, len(shard), args.per_device_batch_size)]
        for m, idx in enumerate(micro):
            if m < done:
                continue
            batch = {k: v.to(device) for k, v in model.collate([features[i] for i in idx]).items()}
            last_micro = (m + 1) % accum == 0 or m + 1 == len(micro)
            sync = wrapped.no_sync() if (world > 1 and not last_micro) else contextlib.nullcontext()
            with sync:
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    loss = wrapped(**batch)["loss"] / accum
                scaler.scale(loss).backward()
            losses.append(loss.item() * accum)
            if last_micro:
                _optimizer_step(model, optimizer, scheduler, scaler, args.max_grad_norm, state, total)
                bar.update(1)
                bar.set_postfix(loss=f"{sum(losses[-accum:]) / len(losses[-accum:]):.4f}")
                if args.max_steps and state["step"] >= args.max_steps:
                    break
                if rank == 0 and m + 1 < len(micro) and 0 < args.save_every_minutes * 60 <= time.time() - saved_at:
                    _save_checkpoint(model, optimizer, scheduler, {**state, "micro_done": m + 1, "epoch_losses": losses},
                                     out / "last", args)
                    saved_at = time.time()
        bar.close()
        record = {"epoch": epoch + 1, "step": state["step"], "train_loss": sum(losses) / max(len(losses), 1),
                  "seconds": round(time.time() - started, 1)}
        state["epoch"] = epoch + 1
        if rank == 0:
            _end_epoch(model, dev_data, record, state, optimizer, scheduler, args)
        if world > 1:
            dist.barrier()
    return {"history": state["history"], "best_f1": state["best_f1"], "steps": state["step"], "world_size": world,
            "unlearnable_gold": unlearnable}


def _optimizer_step(model, optimizer, scheduler, scaler, max_grad_norm: float, state: dict, total: int) -> None:
    """One optimizer step on the accumulated gradients (clipped), the schedule advanced (not past ``total``)."""
    scaler.unscale_(optimizer)
    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    if state["step"] < total:
        scheduler.step()
    state["step"] += 1


def _training_features(model, train_data: Sequence[Sentence], report: bool) -> tuple[list[dict], dict[str, int]]:
    """Every window's training features, and the gold entities the model cannot learn (printed when ``report``);
    a model without a recorded window records the longest trained (inference never exceeds it)."""
    unlearnable = {"too_long": 0, "cut": 0}
    features = [f for s in train_data for f in model.training_features(s.words, s.entities, unlearnable)]
    if not features:
        raise ValueError("no training sentences")
    if model.config.window_subwords is None:
        model.set_window(recorded_window(model, max(len(f["input_ids"]) for f in features)))
    if report and any(unlearnable.values()):
        print(f"gold entities the model cannot learn: {unlearnable['too_long']} longer than "
              f"{model.config.max_span_words} words, {unlearnable['cut']} cut by windows", flush=True)
    return features, unlearnable


def _end_epoch(model, dev_data: Sequence[Sentence] | None, record: dict, state: dict, optimizer, scheduler,
               args: TrainingArgs) -> None:
    """Rank 0 after an epoch: score dev, save OUTPUT/best when it improved (always without dev data), save the
    resumable OUTPUT/last and print the epoch's record."""
    out = Path(args.output_dir)
    if dev_data:
        model.eval()
        record["dev"] = evaluate(model, dev_data, batch_size=args.eval_batch_size)
        if record["dev"]["f1"] > state["best_f1"]:
            state["best_f1"] = record["dev"]["f1"]
            model.save_pretrained(out / "best")
    else:
        model.save_pretrained(out / "best")
    state["history"].append(record)
    _save_checkpoint(model, optimizer, scheduler, state, out / "last", args)
    print(json.dumps(record), flush=True)


MIN_RECORDED_WINDOW = 64  # subwords: a corpus of short texts still records windows that hold a span and its context


def recorded_window(model, longest: int) -> int:
    """The window recorded after training: the longest trained, at least ``MIN_RECORDED_WINDOW`` (within the encoder)."""
    from .models.encoder import max_text_length

    return min(max(longest, MIN_RECORDED_WINDOW), max_text_length(model.encoder.config, model.tokenizer))


def _resized_schedule(optimizer, scheduler, args: TrainingArgs, total: int, step: int):
    """The resumed schedule, or, when this run has another length (more epochs, other max_steps),
    a fresh schedule of ``total`` steps advanced to ``step`` (a loaded OneCycleLR keeps its old length
    and would raise once stepped past it)."""
    if getattr(scheduler, "total_steps", max(total, 1)) == max(total, 1):
        return scheduler
    fresh = make_scheduler(optimizer, args, total)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lr_scheduler.step() before optimizer.step()"
        for _ in range(min(step, max(total, 1))):
            fresh.step()
    return fresh


def _save_checkpoint(model, optimizer, scheduler, state, path: Path, args: TrainingArgs) -> None:
    model.save_pretrained(path)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "state": state,
                "args": asdict(args), "torch_rng": torch.get_rng_state()}, path / "trainer_state.pt.tmp")
    os.replace(path / "trainer_state.pt.tmp", path / "trainer_state.pt")


def load_optimizer_state(optimizer, state: dict) -> None:
    """Load a saved optimizer state, keeping this run's peak learning rates (the saved lr has decayed)."""
    peaks = [g["peak_lr"] for g in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, peak in zip(optimizer.param_groups, peaks):
        group["peak_lr"] = peak


def _load_checkpoint(model, optimizer, scheduler, path: Path, device) -> dict:
    from safetensors.torch import load_file

    weights = load_file(str(path / WEIGHTS_NAME))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    model.to(device)
    ckpt = torch.load(path / "trainer_state.pt", map_location=device, weights_only=True)  # tensors and plain data only
    load_optimizer_state(optimizer, ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    torch.set_rng_state(ckpt["torch_rng"])
    return ckpt["state"]
