"""Command line: ``spandec train | evaluate | predict | analyse | stats | export | space | push`` (``spandec CMD --help``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
from dataclasses import asdict
from pathlib import Path

from .data import DataError, Sentence, dataset_stats, format_stats, read_conll, read_dataset_dir
from .hf_datasets import load_hf_dataset
from .inputs import read_inputs
from .argtypes import minutes, positive_int, precision, tag_column, threshold
from .cli_analyse import add_commands as add_analyse, apply_config
from .cli_hub import add_commands
from .formats import check_conll, entity_columns, json_text, write_conll
from .models import STRATEGIES, NERConfig, PLMarkerConfig, SpanDecConfig, load_model, model_class
from .models.runtime import PRECISIONS
from .samples import PAPER_SAMPLE_WORDS, document_samples
from .spans import Document
from .stream import MAX_CHARS


def load_sentences(source: str, split: str = "train", scheme: str = "auto", limit: int | None = None,
                   tag_column: int | None = None) -> list[Sentence]:
    """Sentences from a CoNLL file, a dataset folder (``split`` file) or a saved/Hub ``datasets`` dataset,
    first ``limit`` only. A local folder is never handed to the Hub loader: without a split file or a
    ``save_to_disk`` dataset in it, ``DataError``."""
    path = Path(source)
    if path.is_file():
        sentences = read_conll(source, scheme=scheme, tag_column=tag_column)
    elif path.is_dir() and any((path / f).is_file() for f in ("dataset_dict.json", "dataset_info.json", "state.json")):
        sentences = load_hf_dataset(source, split)
    elif path.is_dir():
        splits = read_dataset_dir(source, scheme=scheme, tag_column=tag_column)
        key = {"validation": "dev", "valid": "dev"}.get(split, split)
        if key not in splits:
            raise DataError(f"{source}: no {split} file (found: {', '.join(splits)}); name it {split}.txt, or pass the file")
        sentences = splits[key]
    elif os.sep in source or source.startswith(".") or Path(source).suffix:
        raise DataError(f"{source}: no such file or folder")
    else:
        sentences = load_hf_dataset(source, split)
    return sentences[:limit] if limit else sentences


def sample_sentences(sentences: list[Sentence], n: int | None, seed: int) -> list[Sentence]:
    """A seeded random sample of ``n`` sentences, kept in file order (all of them if ``n`` is None or larger)."""
    if n is None or n >= len(sentences):
        return sentences
    if n < 1:
        raise ValueError(f"sample size must be at least 1, got {n}")
    keep = sorted(random.Random(seed).sample(range(len(sentences)), n))
    return [sentences[i] for i in keep]


def _cmd_stats(args) -> int:
    path = Path(args.path)
    files = sorted(f for f in path.rglob("*") if f.suffix in (".txt", ".tsv", ".conll") and not f.name.endswith(".docids.txt")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: no .txt/.tsv/.conll files in this folder")
    for f in files:
        print(format_stats(dataset_stats(read_conll(f, scheme=args.scheme, tag_column=args.tag_column)), str(f)))
    return 0


def _init_model(path: str, strategy: str, labels: list[str], encoder_layers: int | None = None,
                decoder_layers: int | None = None):
    """A trained model to continue training (fresh optimizer and schedule) and the labels it had.

    Its strategy must match or be one it can become (``as_strategy``: SpanDec -> SF-SpanDec). If the
    training data has labels the model lacks, the model moves to the
    data's label set: all weights kept, output rows of shared labels copied, the others start fresh.
    SpanDec depths given here change the model's (``SpanDecModel.with_depth``).
    """
    model = load_model(path, device="cpu")
    if model.strategy != strategy:
        before_strategy, model = model.strategy, model.as_strategy(strategy)
        print(f"--init-from {path}: {before_strategy} -> {strategy}", file=sys.stderr)
    if encoder_layers is not None or decoder_layers is not None:
        if not hasattr(model, "with_depth"):
            raise ValueError("--encoder-layers/--decoder-layers apply to spandec and sf-spandec models only")
        model, note = model.with_depth(encoder_layers, decoder_layers)
        print(f"--init-from {path}: {note}", file=sys.stderr)
    before = list(model.config.labels)
    if set(labels) - set(before):
        model, fresh = model.with_labels(labels)
        print(f"--init-from {path}: labels {', '.join(before)} -> {', '.join(labels)}; "
              f"new output rows: {', '.join(fresh)}", file=sys.stderr)
    return model, before


#: model-shape options of ``spandec train`` (default None: the config class's default); each goes to the strategies
#: whose config has that field
MODEL_OPTIONS = ("max_span_words", "window_subwords", "decoder_layers", "encoder_layers", "decoder_init", "threshold",
                 "marker_max_length")


def _model_options(args) -> dict:
    """The config settings of ``spandec train``'s model-shape options for the chosen strategy (its config class's
    fields); one given that the strategy has no setting for is an error naming it."""
    fields = {f.name for f in dataclasses.fields(model_class(args.strategy).config_class)}
    options = {}
    for name in MODEL_OPTIONS:
        value = getattr(args, name)
        if value is not None and name in fields:
            options[name] = value
        elif value is not None:
            raise ValueError(f"--{name.replace('_', '-')} does not apply to {args.strategy} models")
    return options


def _cmd_train(args) -> int:
    from .models.auto import new_model
    from .training import TrainingArgs, train

    train_data = load_sentences(args.train, args.train_split, args.scheme, args.max_train_sentences, args.tag_column)
    train_data = sample_sentences(train_data, args.sample_train_sentences, args.seed)
    dev_data = (load_sentences(args.dev, args.dev_split, args.scheme, args.max_dev_sentences, args.tag_column)
                if args.dev else None)
    if dev_data:
        dev_data = sample_sentences(dev_data, args.sample_dev_sentences, args.seed)
    n_sentences = len(train_data)
    if args.sample_words:
        train_data = document_samples(train_data, args.sample_words)
        dev_data = document_samples(dev_data, args.sample_words) if dev_data else dev_data
    labels = sorted({t for s in train_data for _, _, t in s.entities})
    options = _model_options(args)
    init_labels = None
    if args.init_from:
        model, init_labels = _init_model(args.init_from, args.strategy, labels, args.encoder_layers, args.decoder_layers)
        if args.window_subwords:
            model.set_window(args.window_subwords)
    else:
        model = new_model(args.strategy, labels, args.encoder, **options)
    targs = TrainingArgs(
        output_dir=args.output, epochs=args.epochs, batch_size=args.batch_size,
        per_device_batch_size=args.per_device_batch_size, learning_rate=args.lr, schedule=args.schedule,
        new_weights_lr_factor=args.new_weights_lr_factor,
        seed=args.seed, resume=not args.no_resume, max_steps=args.max_steps, progress=not args.quiet,
        freeze_word_embeddings=args.freeze_word_embeddings, cpu_bf16=args.bf16, save_every_minutes=args.save_every_minutes,
    )
    result = train(model, train_data, dev_data, targs)
    recipe = {k: v for k, v in asdict(targs).items() if k not in ("output_dir", "progress", "resume")}
    sampled = args.sample_train_sentences or args.sample_dev_sentences
    summary = {"strategy": args.strategy, "train_sentences": n_sentences,
               "dev_sentences": len(dev_data) if dev_data else 0, "train_sample_seed": args.seed if sampled else None,
               "init_from": args.init_from, "sample_words": args.sample_words,
               "train_samples": len(train_data) if args.sample_words else None,
               "init_labels": init_labels,
               "args": recipe, **result}
    if int(os.environ.get("RANK", "0")) == 0:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        (Path(args.output) / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps({k: v for k, v in summary.items() if k != "history"}))
    return 0


def _cmd_evaluate(args) -> int:
    from .evaluation import evaluate

    data = load_sentences(args.data, args.split, args.scheme, args.max_sentences, args.tag_column)
    model = load_model(args.model, device=args.device, precision=args.precision)
    options = {"threshold": args.threshold} if args.threshold is not None else {}
    result = evaluate(model, data, batch_size=args.batch_size, output_conll=args.output_conll, **options)
    if args.sample_words:  # document-context samples, with the sentence-level result beside them
        samples = document_samples(data, args.sample_words)
        result = {"sentences": result, f"samples_{args.sample_words}_words":
                  {"inputs": len(samples), **evaluate(model, samples, batch_size=args.batch_size, **options)}}
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


def _cmd_predict(args) -> int:
    apply_config(args)
    options = {"threshold": args.threshold} if args.threshold is not None else {}
    if args.output_format == "conll":
        return _predict_conll(args, options)
    if args.file is not None:
        from .stream import predict_file

        engine = None
        if args.ray is not None:
            from .distributed import ray_engine

            engine = ray_engine(args.ray, args.workers)
        summary = predict_file(args.model, args.file, args.output, workers=args.workers, batch_size=args.batch_size,
                               shard_size=args.shard_size, on_error=args.on_error, max_chars=args.max_chars,
                               split=args.split, engine=engine, device=args.device, precision=args.precision,
                               progress=not args.quiet,
                               flat=not args.all_spans, min_score=args.min_score, **options)
        if args.output:
            print(json.dumps(summary), file=sys.stderr)
        return 0
    model = load_model(args.model, device=args.device, precision=args.precision)
    ents = model.predict_batch([args.text], batch_size=args.batch_size, flat=not args.all_spans,
                               min_score=args.min_score, **options)[0]
    line = json_text({"id": 0, "text": args.text, "entities": ents}) + "\n"
    if args.output:
        Path(args.output).write_text(line, encoding="utf-8")
    else:
        sys.stdout.write(line)
    return 0


def _predict_conll(args, options: dict) -> int:
    """``predict --output-format conll``: 'word tag' lines, refused before the model runs when a token cannot be
    a CoNLL word."""
    if not args.output:
        raise DataError("--output-format conll needs --output")
    inputs = [args.text] if args.text is not None else read_inputs(args.file).items
    check_conll(args.file or "--text", [Document.from_input(x).words for x in inputs])
    model = load_model(args.model, device=args.device, precision=args.precision)
    preds = model.predict_batch(inputs, batch_size=args.batch_size, flat=not args.all_spans,
                                min_score=args.min_score, **options)
    write_conll(args.output, [entity_columns(x, e) for x, e in zip(inputs, preds)])
    return 0


def _cmd_export(args) -> int:
    import torch

    form = "fp16" if args.fp16 else args.format
    model = load_model(args.model, device="cpu", precision="fp32" if form == "fp16" else form)
    if args.threshold is not None:
        model.check_options({"threshold": args.threshold})  # a model without a threshold says so
        model.config.threshold = args.threshold
    model.save_pretrained(args.output, dtype=torch.float16 if form == "fp16" else None, skip_unchanged=args.skip_unchanged)
    size = sum(f.stat().st_size for f in Path(args.output).iterdir()) / 2**20
    print(f"{args.output}: {form}, {size:.1f} MiB, {len(model.config.weights_from_encoder)} tensors taken from the encoder")
    return 0


TAG_COLUMN_HELP = ("CoNLL column of the gold tag, 0 = word, -1 = last (default: the last, or the second in "
                   "'word gold predicted' files such as --output-conll writes)")


PRECISION_HELP = ("how the encoder runs: " + ", ".join(PRECISIONS) + " or auto (on CPU: onnx-int8 for token and "
                  "sf-spandec, bf16 for spandec and pl-marker on CPUs with native bfloat16; fp32 on CUDA); "
                  "default: the precision the folder was exported in")


def build_parser() -> argparse.ArgumentParser:
    """The ``spandec`` argument parser."""
    p = argparse.ArgumentParser(prog="spandec", description="Train, evaluate and run span-based NER models (token classification, PL-Marker, SpanDec, SF-SpanDec).")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_stats, _add_train, _add_evaluate, _add_predict, _add_export):
        add(sub)
    add_commands(sub)  # space build | space deploy | push
    add_analyse(sub, threshold, precision, positive_int)

    from .store.cli import add_parser as add_annotations_parser

    add_annotations_parser(sub)
    _add_users(sub)
    return p


def _add_stats(sub) -> None:
    s = sub.add_parser("stats", help="print sentence/mention counts of a CoNLL file or of every file in a folder")
    s.add_argument("path", help="CoNLL file, or a folder searched recursively for .txt/.tsv/.conll files")
    s.add_argument("--scheme", default="auto", help="tag scheme: auto (detect), iob1, iob2/bio, iobes (default auto)")
    s.add_argument("--tag-column", type=tag_column, default=None, help=TAG_COLUMN_HELP)
    s.set_defaults(func=_cmd_stats)


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train one strategy with the paper's recipe")
    t.add_argument("--strategy", required=True, choices=STRATEGIES, help="which NER strategy to train")
    t.add_argument("--train", required=True, help="training data: CoNLL file, dataset folder, or HF datasets name/path")
    t.add_argument("--dev", help="dev data (same forms) evaluated after every epoch; the best epoch is kept in OUTPUT/best")
    t.add_argument("--train-split", default="train", help="split name when --train is a datasets dataset (default train)")
    t.add_argument("--dev-split", default="validation", help="split name when --dev is a datasets dataset (default validation)")
    t.add_argument("--output", required=True, help="output folder: best/ (best model), last/ (resumable checkpoint), training.json")
    t.add_argument("--encoder", default=None, help="encoder: local folder or Hub id (default: the shipped all-MiniLM-L6-v2)")
    t.add_argument("--epochs", type=positive_int, default=3, help="number of epochs (default 3)")
    t.add_argument("--batch-size", type=positive_int, default=64, help="effective batch size, reached by gradient accumulation (default 64)")
    t.add_argument("--per-device-batch-size", type=positive_int, default=16, help="sentences per forward pass and device (default 16)")
    t.add_argument("--lr", type=float, default=5e-5, help="learning rate of pretrained weights; new weights get 10x (default 5e-5)")
    t.add_argument("--new-weights-lr-factor", type=float, default=10.0,
                   help="learning-rate multiplier for weights not in the pretrained encoder (default 10)")
    t.add_argument("--schedule", default="onecycle", choices=("onecycle", "linear"), help="lr schedule, 3%% warm-up (default onecycle)")
    t.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    t.add_argument("--max-span-words", type=positive_int, default=None,
                   help=f"longest span in words for span strategies (default {NERConfig.max_span_words})")
    t.add_argument("--encoder-layers", type=positive_int, default=None,
                   help="SpanDec: encoder layers kept (default: all but the last; with --init-from: the model's, "
                        "fewer keeps its first N trained layers)")
    t.add_argument("--decoder-layers", type=positive_int, default=None,
                   help="SpanDec: decoder layers (default 1; with --init-from: the model's, more adds identity-initialised layers)")
    t.add_argument("--decoder-init", default=None, choices=("encoder", "random"),
                   help=f"SpanDec: start the decoder from the dropped encoder layer(s) or from random weights "
                        f"(default {SpanDecConfig.decoder_init})")
    t.add_argument("--threshold", default=None, type=threshold,
                   help=f"SF-SpanDec: default pruning threshold saved with the model (default {SpanDecConfig.threshold})")
    t.add_argument("--marker-max-length", type=positive_int, default=None,
                   help=f"PL-Marker: markers per packed group (default {PLMarkerConfig.marker_max_length})")
    t.add_argument("--max-train-sentences", type=positive_int, default=None, help="use only the first N training sentences")
    t.add_argument("--max-dev-sentences", type=positive_int, default=None, help="use only the first N dev sentences")
    t.add_argument("--sample-train-sentences", type=positive_int, default=None, metavar="N",
                   help="train on a random N-sentence sample (seeded by --seed, kept in file order)")
    t.add_argument("--sample-dev-sentences", type=positive_int, default=None, metavar="N",
                   help="select epochs on a random N-sentence dev sample (seeded by --seed)")
    t.add_argument("--sample-words", type=positive_int, default=None, metavar="N",
                   help="train and select on document-context samples: consecutive sentences of a document packed up "
                        f"to N words (the paper: {PAPER_SAMPLE_WORDS}); default: single sentences")
    t.add_argument("--window-subwords", type=positive_int, default=None, metavar="N",
                   help="longest encoder window in subwords, special tokens included, for training and (recorded in "
                        "config.json) inference; default: the longest window training met")
    t.add_argument("--bf16", action="store_true", help="bf16 autocast on CPU (needs avx512_bf16/AMX; CUDA always "
                                                         "uses mixed precision)")
    t.add_argument("--save-every-minutes", type=minutes, default=15.0,
                   help="also save OUTPUT/last mid-epoch this often, so a stopped run resumes within its epoch (0: at epoch ends only)")
    t.add_argument("--max-steps", type=positive_int, default=None, help="stop after N optimizer steps (smoke runs)")
    t.add_argument("--scheme", default="auto", help="tag scheme of CoNLL files (default auto)")
    t.add_argument("--tag-column", type=tag_column, default=None, help=TAG_COLUMN_HELP)
    t.add_argument("--freeze-word-embeddings", action="store_true",
                   help="keep the encoder's word embeddings as pretrained (checkpoints can then omit them)")
    t.add_argument("--init-from", default=None, metavar="MODEL",
                   help="start from this trained model's weights and config (folder or Hub id; --encoder and the "
                        "other model-shape options are then taken from it) with a fresh optimizer and schedule; labels the "
                        "model lacks get new output rows (transfer to a new label set)")
    t.add_argument("--no-resume", action="store_true", help="start afresh even if OUTPUT/last holds a checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)


def _add_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="seqeval (IOB2 strict) precision/recall/F1 of a saved model on gold data")
    e.add_argument("model", help="saved model folder or Hub id")
    e.add_argument("data", help="gold data: CoNLL file, dataset folder, or HF datasets name/path")
    e.add_argument("--split", default="test", help="split for dataset folders / datasets (default test)")
    e.add_argument("--output-conll", help="write 'word gold pred' lines here (conlleval input)")
    e.add_argument("--json", help="also write the scores to this JSON file")
    e.add_argument("--threshold", type=threshold, default=None, help="SF-SpanDec pruning threshold (default: the model's)")
    e.add_argument("--batch-size", type=positive_int, default=32, help="sentences per forward pass (default 32)")
    e.add_argument("--sample-words", type=positive_int, default=None, metavar="N",
                   help="also score document-context samples (consecutive sentences of a document up to N words, "
                        f"the paper: {PAPER_SAMPLE_WORDS}); the sentence-level result is reported beside it")
    e.add_argument("--max-sentences", type=positive_int, default=None, help="evaluate only the first N sentences")
    e.add_argument("--scheme", default="auto", help="tag scheme of CoNLL files (default auto)")
    e.add_argument("--tag-column", type=tag_column, default=None, help=TAG_COLUMN_HELP)
    e.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    e.add_argument("--precision", type=precision, default=None, help=PRECISION_HELP)
    e.set_defaults(func=_cmd_evaluate)


def _add_predict(sub) -> None:
    r = sub.add_parser("predict", help="tag a text or a file; writes JSON lines {text|tokens, entities}")
    r.add_argument("model", nargs="?", help="saved model folder or Hub id (or --config)")
    r.add_argument("--config", help="a serving config (JSON/TOML, as app.py --config and the app's Analyse view "
                                    "export): its model, threshold and precision")
    r.add_argument("--name", help="with --config: which of its models (default: the first)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="one text to tag")
    src.add_argument("--file", help="input read lazily: .txt (a text per line), .jsonl ('text' or 'tokens', optional 'id'), "
                                    "CoNLL (.conll/.tsv), .parquet, or a datasets folder (save_to_disk)")
    r.add_argument("--output", help="output file, .jsonl or .parquet (default: JSONL on standard output); written in "
                                    "resumable shards under OUTPUT.parts/, bad records to <stem>.errors.jsonl")
    r.add_argument("--workers", type=positive_int, default=1, help="processes (or Ray actors), each with cores/N torch threads (default 1)")
    r.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="tag on Ray Data (a local cluster unless ADDRESS is given); needs the 'ray' extra")
    r.add_argument("--on-error", default="fail", choices=("skip", "fail"),
                   help="bad records (invalid JSON, empty, over --max-chars): report and skip, or stop (default fail)")
    r.add_argument("--max-chars", type=positive_int, default=MAX_CHARS,
                   help="longest text accepted, in characters (default %(default)s)")
    r.add_argument("--shard-size", type=positive_int, default=1000, help="records per output shard, the unit of resumption (default 1000)")
    r.add_argument("--split", default=None, help="split of a datasets folder with several (default: the only one)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--output-format", choices=("jsonl", "conll"), default="jsonl",
                   help="jsonl (default; keeps any token) or conll ('word tag' lines to --output, read whole; refuses "
                        "tokens CoNLL cannot hold, naming the record)")
    r.add_argument("--threshold", type=threshold, default=None, help="SF-SpanDec pruning threshold (default: the model's)")
    r.add_argument("--batch-size", type=positive_int, default=8, help="inputs per forward pass (default 8)")
    r.add_argument("--all-spans", action="store_true", help="return every span scoring at least --min-score, overlaps allowed")
    r.add_argument("--min-score", type=float, default=0.0, help="minimum entity score (default 0)")
    r.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    r.add_argument("--precision", type=precision, default=None, help=PRECISION_HELP)
    r.set_defaults(func=_cmd_predict)


def _add_export(sub) -> None:
    x = sub.add_parser("export", help="re-save a model for serving (bf16, int8, ONNX Runtime) or compactly (fp16)")
    x.add_argument("model", help="saved model folder or Hub id")
    x.add_argument("output", help="folder to write")
    x.add_argument("--format", default="fp32", choices=(*PRECISIONS, "fp16"),
                   help="fp32; bf16 (encoder weights bfloat16); int8 (encoder linear layers int8, run by torchao); "
                        "onnx / onnx-int8 (encoder.onnx, and SpanDec's decoder graphs, run by ONNX Runtime on CPU; not "
                        "pl-marker); fp16 (storage only, loaded back as fp32). The span filter stays float32. Default fp32")
    x.add_argument("--fp16", action="store_true", help="same as --format fp16")
    x.add_argument("--skip-unchanged", action="store_true", help="omit encoder tensors still equal to the pretrained encoder's")
    x.add_argument("--threshold", type=threshold, default=None, help="SF-SpanDec: default threshold to record in config.json")
    x.set_defaults(func=_cmd_export)


def _add_users(sub) -> None:
    u = sub.add_parser("users", help="the app's users file (python app.py --auth FILE): add a user")
    acts = u.add_subparsers(dest="action", required=True)
    a = acts.add_parser("add", help="add a user or change their password and role; the password is read from stdin "
                        "(or prompted for twice on a terminal)")
    a.add_argument("file", help="users file (created if missing)")
    a.add_argument("name", help="user name (the annotator name their work is stored under)")
    a.add_argument("--role", choices=["annotator", "admin"], default="annotator",
                   help="admin: may also create projects, export and fine-tune (default annotator)")
    a.set_defaults(func=_cmd_users_add)


def _cmd_users_add(args) -> int:
    from .app.auth import add_user

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the two passwords differ; nothing was changed.")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    new = add_user(args.file, args.name, password, args.role)
    print(f"{'Added' if new else 'Updated'} {args.name} ({args.role}) in {args.file}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spandec`` console script."""
    args = build_parser().parse_args(argv)
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        return args.func(args)
    except (DataError, FileNotFoundError, ValueError, KeyError) as exc:
        what = " ".join(filter(None, [args.command, getattr(args, "action", None)]))
        print(f"spandec {what}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
