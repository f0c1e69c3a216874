"""``spandec analyse MODEL... --gold FILE``: why models differ on gold data (JSON + Markdown + HTML), and the
``--config FILE`` option of ``spandec predict`` (a serving choice exported by the app's Analyse view)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

__all__ = ["add_commands", "apply_config"]


def _cmd_analyse(args) -> int:
    from .analysis import THRESHOLDS, analyse, measure_ms, read_gold, run_models
    from .app.analyse_report import write_report
    from .app.pool import parse_spec
    from .models import load_model

    start = time.perf_counter()
    sentences = read_gold(args.gold)[: args.max_sentences or None]
    models = []
    for item in args.models:
        spec = parse_spec(item)
        model = load_model(spec.source, device=args.device, precision=spec.precision or args.precision)
        models.append((spec.name, model, spec.source if Path(spec.source).is_dir() else None))
    progress = None if args.quiet else (lambda f, d: print(f"\r{100 * f:5.1f} % {d:<60}", end="", file=sys.stderr))
    outputs = run_models(models, sentences, threshold=args.threshold, batch_size=args.batch_size, progress=progress)
    ms = {}
    sample = [s.words for s in sentences[: args.speed_sample]]
    for name, model, _ in models:
        if model.has_span_filter and sample:
            ms[name] = measure_ms(model, sample, THRESHOLDS, args.batch_size)
    report = analyse(outputs, sentences, Path(args.gold).name, ms)
    seconds = time.perf_counter() - start
    report["seconds"] = round(seconds, 1)
    flags = [f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
             if k in ("threshold", "batch_size", "speed_sample", "max_sentences", "device", "precision") and v is not None]
    command = " ".join(["spandec analyse", *map(shlex.quote, args.models), "--gold", shlex.quote(args.gold),
                        "--output", shlex.quote(str(args.output)), *flags])
    paths = write_report(report, args.output, command, seconds)
    if progress:
        print(file=sys.stderr)
    for name, m in report["models"].items():
        print(f"{name}: F1 {m['f1']:.2f}, " + ", ".join(f"{k} {v}" for k, v in m["error_counts"].items())
              + f" ({m['seconds']:.1f} s)")
    print(f"{len(report['disagreements'])} disagreements; wrote {', '.join(map(str, paths))} in {seconds:.1f} s")
    return 0


def apply_config(args: argparse.Namespace) -> None:
    """``predict --config FILE``: the model, threshold and precision of the file's first (or ``--name``d) model,
    unless given on the command line."""
    from .app.pool import specs_from_file

    if not args.config:
        if not args.model:
            raise ValueError("give a MODEL folder or --config FILE")
        return
    if args.model:
        raise ValueError("give either a MODEL folder or --config FILE, not both")
    specs = specs_from_file(args.config)
    if not specs:
        raise ValueError(f"{args.config}: no model")
    spec = specs[0] if not args.name else next((s for s in specs if s.name == args.name), None)
    if spec is None:
        raise ValueError(f"{args.config}: no model named {args.name!r} (it has {', '.join(s.name for s in specs)})")
    source = Path(spec.source)
    if not source.is_absolute() and not source.exists() and (Path(args.config).parent / source).exists():
        source = Path(args.config).parent / source
    args.model = str(source) if source.exists() else spec.source
    if args.threshold is None:
        args.threshold = spec.threshold
    if args.precision is None:
        args.precision = spec.precision


def add_commands(sub, threshold_type, precision_type, positive_int) -> None:
    """Add ``analyse`` to the ``spandec`` subcommands."""
    a = sub.add_parser("analyse", help="why models differ on gold data: error buckets, error kinds, disagreements, "
                                       "the span filter's recall; writes analysis.json/.md/.html")
    a.add_argument("models", nargs="+", metavar="MODEL", help="model folders or Hub ids, as NAME=PATH[#PRECISION] or PATH")
    a.add_argument("--gold", required=True, help="gold file: CoNLL, JSON lines with spans, Label Studio or doccano export")
    a.add_argument("--threshold", type=threshold_type, default=None,
                   help="span-filter threshold of the entities analysed (default: each model's)")
    a.add_argument("--output", default="analysis", help="folder for analysis.json, .md and .html (default analysis)")
    a.add_argument("--batch-size", type=positive_int, default=32, help="sentences per forward pass (default 32)")
    a.add_argument("--speed-sample", type=positive_int, default=32,
                   help="sentences timed at each threshold of the filter curve (default 32)")
    a.add_argument("--max-sentences", type=positive_int, default=None, help="analyse only the first N gold texts")
    a.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    a.add_argument("--precision", type=precision_type, default=None,
                   help="how the encoders run (as in spandec evaluate; default: the precision each folder was saved in)")
    a.add_argument("--quiet", action="store_true", help="no progress line")
    a.set_defaults(func=_cmd_analyse)
