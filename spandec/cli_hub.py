"""Command line for the Hub: ``spandec space build|deploy`` (the demo as a Space) and ``spandec push`` (a model)."""

from __future__ import annotations

import argparse
from pathlib import Path

TOKEN_HELP = "Hub token with write access (default: $HF_TOKEN or the saved login)"


def _upload(what: str, call):
    """Run a Hub upload; network and permission failures become one-line errors."""
    try:
        return call()
    except (ValueError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - HTTP, network, auth errors of huggingface_hub
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(f"{what} failed: {type(exc).__name__}: {first}") from None


def _cmd_space_build(args) -> int:
    from .space import build

    rows = build(args.output, check_imports=not args.no_import_check)
    total = sum(size for _, size in rows)
    for rel, size in rows:
        print(f"{size / 2**20:9.2f} MiB  {rel}")
    print(f"{args.output}: {len(rows)} files, {total / 2**20:.1f} MiB in all; the Space's checks pass")
    return 0


def _cmd_space_deploy(args) -> int:
    from .space import deploy

    url = _upload(f"deploying Space {args.repo_id}", lambda: deploy(args.repo_id, args.token, args.private, args.hardware))
    print(f"deployed: {url}")
    return 0


def _cmd_push(args) -> int:
    import torch

    from .hub import save_for_hub, split_front_matter
    from .models import load_model

    model = load_model(args.model, device="cpu")
    readme = Path(args.model) / "README.md"
    body = split_front_matter(readme.read_text(encoding="utf-8"))[1] if readme.is_file() else None
    card = {"dataset": args.dataset, "f1": args.f1, "body": body, "skip_unchanged": args.skip_unchanged,
            "dtype": torch.float16 if args.fp16 else None}
    if args.dry_run:
        save_for_hub(model, args.dry_run, name=args.repo_id, **card)
        print(f"{args.dry_run}: what {args.repo_id} would hold ({', '.join(sorted(p.name for p in Path(args.dry_run).iterdir()))})")
        return 0
    url = _upload(f"pushing to {args.repo_id}",
                  lambda: model.push_to_hub(args.repo_id, token=args.token, private=args.private, name=args.repo_id, **card))
    print(f"pushed: {url}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``space build``, ``space deploy`` and ``push`` to the ``spandec`` parser's subcommands."""
    sp = sub.add_parser("space", help="the demo as a Hugging Face Space: build its files, or deploy them")
    ssub = sp.add_subparsers(dest="space_command", required=True)
    b = ssub.add_parser("build", help="assemble the files the Space needs into a folder and check them")
    b.add_argument("output", help="folder to write (new or empty)")
    b.add_argument("--no-import-check", action="store_true", help="skip starting the app from the built folder")
    b.set_defaults(func=_cmd_space_build)
    d = ssub.add_parser("deploy", help="build the Space and upload it (creates the Space if needed)")
    d.add_argument("repo_id", help="Space id, e.g. your-name/spandec")
    d.add_argument("--token", default=None, help=TOKEN_HELP)
    d.add_argument("--private", action="store_true", help="create the Space as private")
    d.add_argument("--hardware", default=None, help="hardware for a new Space, e.g. cpu-basic or zero-a10g")
    d.set_defaults(func=_cmd_space_deploy)

    p = sub.add_parser("push", help="upload a saved model to a Hub model repo, with a model card")
    p.add_argument("model", help="saved model folder or Hub id")
    p.add_argument("repo_id", help="model repo id, e.g. your-name/spandec-sf-conllpp")
    p.add_argument("--dataset", default=None, help="dataset the model was trained and tested on (card metadata)")
    p.add_argument("--f1", type=float, default=None, help="measured test F1 to state in the card (needs --dataset)")
    p.add_argument("--fp16", action="store_true", help="store floating-point weights as float16 (as `spandec export`)")
    p.add_argument("--skip-unchanged", action="store_true", help="omit encoder tensors equal to the pretrained encoder's")
    p.add_argument("--token", default=None, help=TOKEN_HELP)
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--dry-run", metavar="FOLDER", default=None, help="write what would be uploaded to FOLDER; upload nothing")
    p.set_defaults(func=_cmd_push)
