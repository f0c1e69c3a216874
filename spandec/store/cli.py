"""``spandec annotations import|export|projects``: corpora into the annotation store, annotations out of it."""

from __future__ import annotations

import argparse
import sys

from .db import default_db, open_store
from .formats import EXPORT_FORMATS, IMPORT_KINDS, read_corpus, write_annotations
from .projects import add_texts, create_project, get_project, list_projects, progress, project_annotations
from .schema import STATUSES

__all__ = ["add_parser"]


def _store(args: argparse.Namespace):
    return open_store(args.db, timeout=args.db_timeout)


def _cmd_import(args: argparse.Namespace) -> int:
    docs = read_corpus(args.path, args.kind)
    store = _store(args)
    try:
        try:
            project = get_project(store, args.project)
        except ValueError:
            labels = args.labels or sorted({e["label"] for d in docs for e in d.entities or []})
            if not labels:
                raise ValueError(f"{args.path} holds no spans to take labels from; give --labels PER LOC ...") from None
            project = create_project(store, args.project, labels, args.model, args.threshold, args.overlap)
            print(f"created project “{project.name}” with labels {', '.join(project.labels)}", file=sys.stderr)
        n = add_texts(store, project, docs, accept_as=args.accept_as)
        pre = sum(1 for d in docs if d.entities)
        how = f"accepted as {args.accept_as}" if args.accept_as else f"{pre} with pre-annotations"
        print(f"imported {n} texts into “{project.name}” ({how}); database {store.where}")
    finally:
        store.close()
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        project = get_project(store, args.project)
        rows = project_annotations(store, project, args.annotator, args.status)
        out = write_annotations(rows, args.format, args.output)
    finally:
        store.close()
    print(f"exported {len(rows)} annotations of “{project.name}” as {args.format} to {out}")
    return 0


def _cmd_projects(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        for p in list_projects(store):
            pr = progress(store, p)
            print(f"{p.name}\t{pr['done']} of {pr['total']} done\tlabels {','.join(p.labels)}\tmodel {p.model or '-'}")
    finally:
        store.close()
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``annotations`` with its ``import``, ``export`` and ``projects`` commands to the ``spandec`` parser."""
    a = sub.add_parser("annotations", help="annotation projects: import a corpus, export annotations")
    a.set_defaults(func=lambda _args: a.print_help() or 2)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", default=None, help=f"SQLite file or SQLAlchemy URL (default $SPANDEC_DB, else {default_db()})")
    db.add_argument("--db-timeout", type=float, default=10.0, help="seconds to wait for a locked database (default 10)")
    acts = a.add_subparsers(dest="action", required=True)

    i = acts.add_parser("import", parents=[db], help="add a corpus (.txt, .jsonl, CoNLL, datasets folder, Label Studio "
                        ".json, doccano .jsonl) to a project; its spans become pre-annotations")
    i.add_argument("path", help="file or datasets folder")
    i.add_argument("--project", required=True, help="project name (created when it does not exist)")
    i.add_argument("--kind", default="auto", choices=IMPORT_KINDS, help="input kind (default: from the file)")
    i.add_argument("--labels", nargs="+", help="label set of a new project (default: the labels of the file's spans)")
    i.add_argument("--model", default=None, help="new project: the app model name that pre-annotates it")
    i.add_argument("--threshold", type=float, default=None, help="new project: that model's threshold")
    i.add_argument("--overlap", type=int, default=1, help="new project: annotators per text (default 1)")
    i.add_argument("--accept-as", metavar="ANNOTATOR", default=None,
                   help="store the file's spans as this annotator's accepted annotations (finished work)")
    i.set_defaults(func=_cmd_import)

    x = acts.add_parser("export", parents=[db], help="write a project's annotations")
    x.add_argument("--project", required=True)
    x.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    x.add_argument("--output", required=True, help="file to write (a folder for datasets)")
    x.add_argument("--annotator", nargs="+", default=None, help="only these annotators (default all)")
    x.add_argument("--status", nargs="+", default=["accepted"], choices=STATUSES, help="statuses (default accepted)")
    x.set_defaults(func=_cmd_export)

    p = acts.add_parser("projects", parents=[db], help="list the projects and their progress")
    p.set_defaults(func=_cmd_projects)
