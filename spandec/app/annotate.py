"""The annotate view: corpus projects in the annotation store, a queue per annotator, select-to-label, export.

Nothing lives only in the page: every edit, accept and skip is committed to the store (:mod:`spandec.store`)
before the view answers, and opening a project under the same annotator name resumes on the same text.
Each action returns a :class:`View` for ``app.py`` to show; problems (bad span, locked database, ...) raise
:class:`InputError` and change nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import plotly.graph_objects as go

from ..store import Store
from ..store import entities as ents
from ..store import projects as P
from ..store import queue as Q
from ..store.agreement import AGREEMENT_HEADERS, agreement
from ..formats import file_stem
from ..store.formats import EXPORT_FORMATS, EXPORT_SUFFIXES, read_corpus, write_annotations
from .batch import check_texts, uploaded_file
from .context import AppContext, InputError, check_threshold, run_model
from .span_select import render, selection

__all__ = ["View", "ROW_HEADERS", "NO_MODEL", "COMMITTEE", "ORDERS", "ACTIONS", "require_store", "project_names",
           "create_project", "create_or_explain", "open_project", "add", "select", "select_event", "remove", "relabel",
           "accept", "skip", "undo", "previous", "forward", "export", "agreement_view",
           "score_uncertainty", "AGREEMENT_HEADERS", "EXPORT_FORMATS"]

ROW_HEADERS = ["text", "label", "start", "end"]
NO_MODEL = "(none)"
COMMITTEE = "(all loaded models: how much they disagree)"  # query by committee, for "models disagree most first"
ORDERS = {"corpus order": "corpus", "most uncertain first": "uncertainty",
          "models disagree most first": "disagreement"}  # the last: spandec.app.analyse.score_committee


@dataclass
class View:
    """What the view shows after an action: the open annotation and its text's id, the text as HTML, rows, choices
    and a status."""

    annotation_id: int | None
    text_id: int | None
    html: str
    rows: list[list]
    choices: list[tuple[str, str]]
    status: str
    labels: list[str] = field(default_factory=list)


def _user_errors(fn: Callable) -> Callable:
    """Library ``ValueError``s (bad span, unknown project, locked database) become :class:`InputError`."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(str(exc)) from None
    return run


def require_store(store: Store | None) -> Store:
    """The open store; InputError when the app runs without one."""
    if store is None:
        raise InputError("No annotation database is open (start the app with --db PATH).")
    return store


def _project(store: Store | None, name: Any) -> P.Project:
    if not name:
        raise InputError("Pick a project first, or create one from a corpus file.")
    return P.get_project(require_store(store), str(name))


def _order(order: Any) -> str:
    return ORDERS.get(str(order), str(order) if order in ORDERS.values() else "corpus")


def _view(store: Store, project: P.Project, annotator: str, item: Q.Item | None, note: str = "") -> View:
    pr = P.progress(store, project, annotator)
    summary = (f"**{pr['done']} of {pr['total']} done** in “{project.name}” · you: {pr['accepted']} accepted, "
               f"{pr['skipped']} skipped")
    if item is None:
        return View(None, None, render(None, [], project.labels, "Nothing left for you in this project: every text is "
                                 "done or held by another annotator."), [], [], f"{note}  \n{summary}".strip(),
                    project.labels)
    origin = (f"pre-annotated by {item.model}" + (f" at {item.threshold:g}" if item.threshold is not None else "")
              if item.model else "started empty")
    status = (f"Text {item.position + 1} of {pr['total']} ({item.status}, {origin}, {item.edits} edits, saved). "
              + summary)
    rows = [[item.text[e["start"]:e["end"]], e["label"], e["start"], e["end"]] for e in item.entities]
    choices = [(f"{item.text[e['start']:e['end']][:50]} · {e['label']} [{e['start']}:{e['end']}]",
                f"{e['start']}:{e['end']}") for e in item.entities]
    return View(item.annotation_id, item.text_id, render(item.text, item.entities, project.labels), rows, choices,
                f"{note}  \n{status}".strip(), project.labels)


def _preannotate(ctx: AppContext, store: Store, project: P.Project, item: Q.Item | None) -> Q.Item | None:
    """Run the project's model on a fresh, untouched draft and store its entities."""
    if (item is None or item.status != "draft" or item.edits or item.model or item.entities or not project.model
            or project.model not in ctx.pool.available):
        return item
    found, _, _ = run_model(ctx, project.model, item.text, check_threshold(0.5 if project.threshold is None else project.threshold))
    spans = [{"start": e["char_start_index"], "end": e["char_end_index"], "label": e["label"]} for e in found
             if e["label"] in project.labels]
    return Q.preannotate(store, item.annotation_id, spans, project.model, project.threshold)


def project_names(store: Store | None) -> list[str]:
    """Names of the projects in the store."""
    return [p.name for p in P.list_projects(store)] if store is not None else []


@_user_errors
def create_project(ctx: AppContext, store: Store | None, name: str, upload: Any, labels: str, model: str | None,
                   threshold: float, overlap: float) -> tuple[list[str], str]:
    """A project from an uploaded corpus (.txt, .jsonl, CoNLL, Label Studio .json); returns names and a note."""
    store = require_store(store)
    P.check_project_name(name)  # before reading the upload
    path = uploaded_file(upload, ctx.limits, "a corpus file: .txt (a text per line), .jsonl, CoNLL or a Label "
                         "Studio .json export")
    try:
        docs = read_corpus(path)
    except ValueError as exc:
        raise InputError(f"Could not read {path.name}: {str(exc).replace(str(path), path.name)}") from None
    check_texts(path.name, [d.text for d in docs], ctx.limits)
    label_list = [x for x in re.split(r"[\s,]+", labels or "") if x]
    label_list = label_list or sorted({e["label"] for d in docs for e in d.entities or []})
    model = None if not model or model == NO_MODEL else model
    if not label_list and model:
        label_list = ctx.pool.get(model).model.config.labels if model in ctx.pool.available else []
    project = P.create_project(store, name, label_list, model, check_threshold(threshold) if model else None,
                               int(overlap or 1))
    n = P.add_texts(store, project, docs)
    return project_names(store), f"Created “{project.name}” with {n} texts, labels {', '.join(project.labels)}."


def create_or_explain(ctx: AppContext, store: Store | None, *args) -> tuple[list[str] | None, str]:
    """:func:`create_project`, a refusal given as ``(None, note)`` (a note, not an error over the project list)."""
    try:
        return create_project(ctx, store, *args)
    except InputError as exc:
        return None, f"**Not created:** {exc}"


def _act(fn: Callable[..., tuple[Q.Item | None, str]]) -> Callable[..., View]:
    """An action on the open annotation: the store call, pre-annotation of a new text, the resulting view."""
    @_user_errors
    @functools.wraps(fn)
    def run(ctx: AppContext, store: Store | None, project: Any, annotator: Any, *args) -> View:
        proj = _project(store, project)
        annotator = Q.check_annotator(annotator)
        item, note = fn(store, proj, annotator, *args)
        item = _preannotate(ctx, store, proj, item)
        return _view(store, proj, annotator, item, note)
    return run


@_act
def open_project(store: Store, project: P.Project, annotator: str, order: Any = "corpus") -> tuple:
    """Resume where ``annotator`` stopped in ``project`` (or start on its first free text)."""
    item = Q.current(store, project, annotator, _order(order))
    return item, f"Opened “{project.name}” as {annotator}."


@_act
def add(store: Store, project: P.Project, annotator: str, aid: Any, span: str, label: str) -> tuple:
    """Add an entity typed as its text or ``START:END``."""
    return Q.add(store, project, aid, annotator, str(span or ""), label)


@_act
def select(store: Store, project: P.Project, annotator: str, aid: Any, start: Any, end: Any, label: str,
           selected: Any = None, error: Any = None) -> tuple:
    """Add the entity the mouse selected: code-point offsets and the selected characters, checked against the text."""
    if error:
        raise InputError(f"Nothing was added: {error}")
    return Q.edit(store, project, aid, annotator, lambda text, es: ents.add(
        text, es, selection(text, start, end, selected), label, project.labels))


def select_event(ctx: AppContext, store: Store | None, project: Any, annotator: Any, aid: Any, label: str,
                 data: dict) -> View:
    """:func:`select` for the view's ``select`` event data: ``{start, end, text}`` or ``{error}``."""
    return select(ctx, store, project, annotator, aid, data.get("start"), data.get("end"), label, data.get("text"),
                  data.get("error"))


@_act
def remove(store: Store, project: P.Project, annotator: str, aid: Any, entity: str) -> tuple:
    """Remove the entity ``START:END``."""
    return Q.remove(store, project, aid, annotator, entity)


@_act
def relabel(store: Store, project: P.Project, annotator: str, aid: Any, entity: str, label: str) -> tuple:
    """Give the entity ``START:END`` another label."""
    return Q.relabel(store, project, aid, annotator, entity, label)


def _finish(store: Store, project: P.Project, annotator: str, text_id: Any, order: Any, status: str) -> tuple:
    """Accept or skip the text the page showed (``text_id``): once only, however often it is pressed."""
    item = Q.annotation_of(store, project, text_id, annotator)
    if item.status == status:
        note = (f"Text {item.position + 1} was already {status}; nothing changed (showing the text after it).")
    else:
        note = "Accepted and saved." if status == "accepted" else "Skipped."
    fn = Q.accept if status == "accepted" else Q.skip
    return fn(store, project, item.annotation_id, annotator, _order(order)), note


@_act
def accept(store: Store, project: P.Project, annotator: str, text_id: Any, order: Any = "corpus") -> tuple:
    """Accept the text ``text_id`` the page shows (committed) and open the next one; a repeat changes nothing."""
    return _finish(store, project, annotator, text_id, order, "accepted")


@_act
def skip(store: Store, project: P.Project, annotator: str, text_id: Any, order: Any = "corpus") -> tuple:
    """Skip the text ``text_id`` the page shows and open the next one; a repeat changes nothing."""
    return _finish(store, project, annotator, text_id, order, "skipped")


@_act
def undo(store: Store, project: P.Project, annotator: str) -> tuple:
    """Undo the latest change (edit, accept or skip) and show that text."""
    return Q.undo(store, project, annotator)


@_act
def previous(store: Store, project: P.Project, annotator: str, aid: Any) -> tuple:
    """Show the text annotated before this one."""
    return Q.previous(store, project, aid, annotator), ""


@_act
def forward(store: Store, project: P.Project, annotator: str, aid: Any, order: Any = "corpus") -> tuple:
    """Show the next text (a new one once this one is accepted or skipped)."""
    return Q.forward(store, project, aid, annotator, _order(order)), ""


# The queue's buttons: API name -> (action, the view's inputs after project and annotator, whether it may open a new
# text to pre-annotate). Accept and Skip take the id of the text the page shows ("shown"), the others the open
# annotation ("aid").
ACTIONS = {"add": (add, ("aid", "add_span", "label"), False), "remove": (remove, ("aid", "pick"), False),
           "relabel": (relabel, ("aid", "pick", "label"), False), "accept": (accept, ("shown", "order"), True),
           "skip": (skip, ("shown", "order"), True), "undo": (undo, (), False),
           "previous": (previous, ("aid",), False), "next": (forward, ("aid", "order"), True)}


@_user_errors
def export(ctx: AppContext, store: Store | None, project: Any, fmt: str, annotators: str,
           statuses: Sequence[str]) -> tuple[str, str]:
    """Write the project's annotations (by annotator and status) as ``fmt``; returns a file path and a note."""
    proj = _project(store, project)
    names = [x for x in re.split(r"[\s,]+", annotators or "") if x] or None
    rows = P.project_annotations(store, proj, names, list(statuses or ["accepted"]))
    if not rows:
        raise InputError("Nothing to export with these filters yet.")
    out = ctx.new_dir("annotations")
    target = out / f"{file_stem(proj.name)}{EXPORT_SUFFIXES[fmt]}"
    try:
        path = write_annotations(rows, fmt, target)
    except ValueError as exc:  # an entity the format cannot hold: named, without the server's folders
        raise InputError(str(exc).replace(f"{target}: ", "")) from None
    if fmt == "datasets":
        import shutil

        path = Path(shutil.make_archive(str(path), "zip", path))
    return str(path), f"Exported {len(rows)} annotations of “{proj.name}” as {fmt}."


@_user_errors
def agreement_view(store: Store | None, project: Any) -> tuple[list[list], go.Figure, str]:
    """Span-level F1 between annotators per label (texts two or more accepted), as rows and a bar chart."""
    proj = _project(store, project)
    rows = agreement(P.project_annotations(store, proj))
    fig = go.Figure(go.Bar(x=[r[0] for r in rows], y=[r[1] for r in rows], text=[f"{r[1]:.2f}" for r in rows],
                           marker_color="#4c78a8"))
    fig.update_layout(yaxis=dict(range=[0, 1], title="F1 between annotators"), height=300,
                      margin=dict(l=40, r=10, t=30, b=30), title="Inter-annotator agreement (exact spans)")
    note = (f"{rows[0][4]} texts accepted by two or more annotators." if rows else
            "No text has been accepted by two annotators yet (create the project with 2 annotators per text).")
    return rows, fig, note


@_user_errors
def score_uncertainty(ctx: AppContext, store: Store | None, project: Any, model: str | None, threshold: float,
                      progress: Callable[[float, str], None] | None = None, limit: int = 500) -> str:
    """Score texts still wanted by how unsure ``model`` is (a span near 0.5); the queue can then start there.
    ``model`` :data:`COMMITTEE`: by how much the loaded models disagree (:func:`spandec.app.analyse.score_committee`)."""
    if model == COMMITTEE:
        from .analyse import score_committee

        return score_committee(ctx, store, project, threshold, progress)
    proj = _project(store, project)
    name = model if model and model != NO_MODEL else proj.model
    if not name:
        raise InputError("Choose a model to measure uncertainty with.")
    todo = P.unscored_texts(store, proj, limit)
    scores = {}
    for k, (tid, text) in enumerate(todo):
        entry = ctx.pool.get(name)
        with ctx.lock(entry.model):
            spans = entry.model.predict(text, flat=False, min_score=0.05, **entry.options(check_threshold(threshold)))
        scores[tid] = max((1 - abs(2 * e["score"] - 1) for e in spans), default=0.0)
        if progress and k % 10 == 0:
            progress(k / max(1, len(todo)), f"text {k + 1} of {len(todo)}")
    P.set_uncertainty(store, scores)
    return f"Scored {len(scores)} texts with {name}; choose “most uncertain first” to annotate those first."
