"""Projects and their texts: create, find, add a corpus, progress, and the stored annotations of a project."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from . import entities as ents
from .db import Store, now
from .schema import STATUSES, annotations, projects, texts

__all__ = ["Project", "Doc", "check_project_name", "create_project", "get_project", "list_projects", "add_texts", "progress",
           "project_annotations", "set_uncertainty", "unscored_texts", "set_model"]


@dataclass(frozen=True)
class Project:
    """A project row: its name, label set, pre-annotation model and threshold, annotators wanted per text."""

    id: int
    name: str
    labels: list[str]
    model: str | None
    threshold: float | None
    overlap: int


@dataclass
class Doc:
    """A text to import: its text, an id in its source, and spans that came with it (pre-annotations)."""

    text: str
    source_id: str | None = None
    entities: list[dict] | None = None


def _project(row: Any) -> Project:
    return Project(row.id, row.name, list(row.labels or []), row.model, row.threshold, row.overlap)


MAX_NAME = 100
_NAME_BANNED = "/\\:*?\"<>|"


def check_project_name(name: Any) -> str:
    """A project name (stripped) that is safe as a display name and can never become a path: 1 to 100
    characters, no control or invisible format characters, none of ``/ \\ : * ? " < > |``, not starting with a
    dot; ``ValueError`` saying what is wrong otherwise."""
    name = str(name if name is not None else "").strip()
    if not name:
        raise ValueError("Give the project a name.")
    if len(name) > MAX_NAME:
        raise ValueError(f"A project name may have at most {MAX_NAME} characters (this one has {len(name)}).")
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")]
    if bad:
        raise ValueError(f"A project name may not hold control or invisible characters (found {bad[0]!r}).")
    bad = [c for c in name if c in _NAME_BANNED]
    if bad:
        raise ValueError(f"A project name may not hold {bad[0]!r} (nor any of {' '.join(_NAME_BANNED)}).")
    if name.startswith("."):
        raise ValueError("A project name may not start with a dot.")
    return name


def create_project(store: Store, name: str, labels: Sequence[str], model: str | None = None,
                   threshold: float | None = None, overlap: int = 1) -> Project:
    """A new, empty project; ValueError if the name (:func:`check_project_name`) is bad or taken, or a label is
    invalid."""
    name = check_project_name(name)
    labels = list(dict.fromkeys(ents.check_label(label) for label in labels))
    if not labels:
        raise ValueError("Give the project at least one entity label.")
    if int(overlap) < 1:
        raise ValueError("Annotators per text must be at least 1.")
    try:
        with store.tx() as c:
            pid = c.execute(projects.insert().values(
                name=name, labels=labels, model=model or None, threshold=threshold, overlap=int(overlap),
                created_at=now())).inserted_primary_key[0]
    except IntegrityError:
        raise ValueError(f"A project named “{name}” exists already; pick it, or choose another name.") from None
    return Project(pid, name, labels, model or None, threshold, int(overlap))


def get_project(store: Store, name_or_id: str | int) -> Project:
    """The project with this name (or id); ValueError if there is none."""
    col = projects.c.id if isinstance(name_or_id, int) else projects.c.name
    with store.tx() as c:
        row = c.execute(select(projects).where(col == name_or_id)).first()
    if row is None:
        raise ValueError(f"There is no project “{name_or_id}”; create it first (or check the name).")
    return _project(row)


def list_projects(store: Store) -> list[Project]:
    """Every project, by name."""
    with store.tx() as c:
        return [_project(r) for r in c.execute(select(projects).order_by(projects.c.name))]


def add_texts(store: Store, project: Project, docs: Iterable[Doc], accept_as: str | None = None,
              batch: int = 500) -> int:
    """Append texts (after the project's last position) in one transaction; returns how many.

    Spans that come with a text are pre-annotations; with ``accept_as`` they are stored instead as that
    annotator's accepted annotations (every text gets one, possibly empty): importing finished work.
    """
    docs = list(docs)
    rows = []
    for k, doc in enumerate(docs):
        where = f"{doc.source_id or f'text {k + 1}'}: "
        if not isinstance(doc.text, str) or not doc.text.strip():
            raise ValueError(f"{where}the text is empty.")
        pre = ents.normalize(doc.text, doc.entities, where) if doc.entities else None
        for e in pre or []:
            ents.check_label(e["label"], project.labels)
        rows.append({"project_id": project.id, "source_id": doc.source_id, "text": doc.text,
                     "preannotation": None if accept_as else pre, "n_accepted": 1 if accept_as else 0})
    t = now()
    with store.tx() as c:
        start = c.execute(select(func.coalesce(func.max(texts.c.position), -1))
                          .where(texts.c.project_id == project.id)).scalar() + 1
        for k, row in enumerate(rows):
            row["position"] = start + k
        for i in range(0, len(rows), batch):
            c.execute(texts.insert(), rows[i:i + batch])
        if accept_as:
            ids = c.execute(select(texts.c.id).where(texts.c.project_id == project.id, texts.c.position >= start)
                            .order_by(texts.c.position)).scalars().all()
            anns = [{"text_id": tid, "annotator": accept_as, "status": "accepted", "model": "import",
                     "entities": ents.normalize(d.text, d.entities or []), "created_at": t, "updated_at": t,
                     "accepted_at": t} for tid, d in zip(ids, docs)]
            for i in range(0, len(anns), batch):
                c.execute(annotations.insert(), anns[i:i + batch])
    return len(rows)


def progress(store: Store, project: Project, annotator: str | None = None) -> dict[str, int]:
    """``total`` texts, ``done`` (accepted by enough annotators), and the annotator's ``accepted``/``skipped``."""
    with store.tx() as c:
        total = c.execute(select(func.count()).where(texts.c.project_id == project.id)).scalar()
        done = c.execute(select(func.count()).where(texts.c.project_id == project.id,
                                                    texts.c.n_accepted >= project.overlap)).scalar()
        mine = dict(c.execute(
            select(annotations.c.status, func.count()).join(texts, texts.c.id == annotations.c.text_id)
            .where(texts.c.project_id == project.id, annotations.c.annotator == (annotator or ""))
            .group_by(annotations.c.status)).all())
    return {"total": total, "done": done, **{s: mine.get(s, 0) for s in STATUSES}}


def project_annotations(store: Store, project: Project, annotators: Sequence[str] | None = None,
                        statuses: Sequence[str] | None = ("accepted",)) -> list[dict]:
    """Annotations of a project (filtered by annotator and status), in corpus order, with their texts."""
    q = (select(texts.c.id.label("text_id"), texts.c.position, texts.c.source_id, texts.c.text,
                annotations.c.annotator, annotations.c.status, annotations.c.entities, annotations.c.model,
                annotations.c.threshold, annotations.c.updated_at, annotations.c.accepted_at)
         .join(texts, texts.c.id == annotations.c.text_id).where(texts.c.project_id == project.id)
         .order_by(texts.c.position, annotations.c.annotator))
    if annotators:
        q = q.where(annotations.c.annotator.in_(list(annotators)))
    if statuses:
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise ValueError(f"Unknown status {bad[0]!r}; choose from {', '.join(STATUSES)}.")
        q = q.where(annotations.c.status.in_(list(statuses)))
    with store.tx() as c:
        return [dict(r._mapping) for r in c.execute(q)]


def unscored_texts(store: Store, project: Project, limit: int = 1000,
                   score: str = "uncertainty") -> list[tuple[int, str]]:
    """``(text id, text)`` of texts still wanted and not yet scored for ``score`` (uncertainty or disagreement)."""
    with store.tx() as c:
        return [tuple(r) for r in c.execute(
            select(texts.c.id, texts.c.text).where(texts.c.project_id == project.id, texts.c[score].is_(None),
                                                   texts.c.n_accepted < project.overlap)
            .order_by(texts.c.position).limit(limit))]


def set_uncertainty(store: Store, scores: dict[int, float], score: str = "uncertainty") -> None:
    """Store model uncertainty (or, ``score="disagreement"``, the committee's disagreement) per text id; the queue can
    then hand out the highest first."""
    if score not in ("uncertainty", "disagreement"):
        raise ValueError(f"unknown text score {score!r}")
    with store.tx() as c:
        for tid, u in scores.items():
            c.execute(texts.update().where(texts.c.id == tid).values({score: float(u)}))


def set_model(store: Store, project: Project, model: str | None, threshold: float | None) -> Project:
    """Make ``model`` (at ``threshold``) the model that pre-annotates the project's new texts."""
    with store.tx() as c:
        c.execute(projects.update().where(projects.c.id == project.id).values(model=model, threshold=threshold))
    return Project(project.id, project.name, project.labels, model, threshold, project.overlap)
