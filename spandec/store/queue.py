"""The annotation queue: hand texts to annotators, record every edit, accept / skip / undo, move back and forth.

Every function runs in one transaction and commits before it returns, so nothing an annotator did is only in
memory. A text is claimed by one annotator at a time (``texts.claimed_by`` set by a conditional ``UPDATE``, which
the database serialises); a claim older than ``claim_ttl`` seconds may be handed to someone else. Each annotator's
position (``cursors``) is stored, so reopening the project resumes on the same text. Every change first writes the
state before it to ``history``; :func:`undo` restores the latest one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import Connection, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import entities as ents
from .db import Store, now
from .projects import Project
from .schema import annotations, cursors, history, texts

__all__ = ["Item", "ORDERS", "current", "claim_next", "edit", "add", "remove", "relabel", "accept",
           "skip", "undo", "previous", "forward", "preannotate", "check_annotator", "annotation_of"]

ORDERS = ("corpus", "uncertainty", "disagreement")  # the last two: highest score first (texts.uncertainty, ...)
CLAIM_TTL = 30 * 60.0


@dataclass
class Item:
    """One annotator's annotation of one text, as the view shows it."""

    annotation_id: int
    text_id: int
    position: int
    source_id: str | None
    text: str
    entities: list[dict]
    status: str
    annotator: str
    model: str | None
    threshold: float | None
    edits: int


def check_annotator(name: Any) -> str:
    """An annotator name (stripped, 1-200 characters); ValueError otherwise."""
    name = str(name or "").strip()
    if not name or len(name) > 200:
        raise ValueError("Type your name (the annotator) first, at most 200 characters.")
    return name


_ITEM_COLS = (annotations.c.id, annotations.c.text_id, texts.c.position, texts.c.source_id, texts.c.text,
              annotations.c.entities, annotations.c.status, annotations.c.annotator, annotations.c.model,
              annotations.c.threshold, annotations.c.edits)


def _item(c: Connection, annotation_id: int) -> Item:
    row = c.execute(select(*_ITEM_COLS).join(texts, texts.c.id == annotations.c.text_id)
                    .where(annotations.c.id == annotation_id)).first()
    if row is None:
        raise ValueError(f"Annotation {annotation_id} does not exist (was the project deleted?).")
    return Item(*row[:5], list(row.entities or []), *row[6:])


def _set_cursor(c: Connection, project: Project, annotator: str, annotation_id: int | None) -> None:
    values = {"annotation_id": annotation_id, "updated_at": now()}
    done = c.execute(update(cursors).where(cursors.c.project_id == project.id, cursors.c.annotator == annotator)
                     .values(**values)).rowcount
    if not done:
        c.execute(cursors.insert().values(project_id=project.id, annotator=annotator, **values))


def _claimable(annotator: str, ttl: float):
    return or_(texts.c.claimed_by.is_(None), texts.c.claimed_by == annotator,
               texts.c.claimed_at < now() - timedelta(seconds=ttl))


def _claim_text(c: Connection, text_id: int, annotator: str, ttl: float, wanted: int | None = None) -> bool:
    """Claim a text for ``annotator`` unless someone else holds it (and, given ``wanted``, it still needs work)."""
    cond = [texts.c.id == text_id, _claimable(annotator, ttl)]
    if wanted is not None:
        cond.append(texts.c.n_accepted < wanted)
    return c.execute(update(texts).where(*cond).values(claimed_by=annotator, claimed_at=now())).rowcount == 1


def _release(c: Connection, text_id: int, annotator: str) -> None:
    c.execute(update(texts).where(texts.c.id == text_id, texts.c.claimed_by == annotator)
              .values(claimed_by=None, claimed_at=None))


def claim_next(store: Store, project: Project, annotator: str, order: str = "corpus",
               claim_ttl: float = CLAIM_TTL) -> Item | None:
    """Claim the next text this annotator has not seen and no one else holds; None when none is left."""
    annotator = check_annotator(annotator)
    if order not in ORDERS:
        raise ValueError(f"Unknown queue order {order!r}; choose from {', '.join(ORDERS)}.")
    mine = select(annotations.c.id).where(annotations.c.text_id == texts.c.id, annotations.c.annotator == annotator)
    keys = ([texts.c[order].is_(None), texts.c[order].desc()] if order != "corpus" else []) + [texts.c.position]
    for _attempt in range(20):  # others may claim the candidates first; try again with fresh ones
        try:
            with store.tx() as c:
                ids = c.execute(select(texts.c.id).where(
                    texts.c.project_id == project.id, texts.c.n_accepted < project.overlap,
                    _claimable(annotator, claim_ttl), ~mine.exists()).order_by(*keys).limit(8)).scalars().all()
                if not ids:
                    _set_cursor(c, project, annotator, None)
                    return None
                for tid in ids:
                    if not _claim_text(c, tid, annotator, claim_ttl, project.overlap):
                        continue
                    pre = c.execute(select(texts.c.preannotation).where(texts.c.id == tid)).scalar()
                    t = now()
                    aid = c.execute(annotations.insert().values(
                        text_id=tid, annotator=annotator, status="draft", entities=list(pre or []),
                        model="import" if pre else None, created_at=t, updated_at=t)).inserted_primary_key[0]
                    _set_cursor(c, project, annotator, aid)
                    return _item(c, aid)
        except IntegrityError:  # the same annotator claimed it in another window at the same moment
            continue
    raise ValueError("Every free text was taken by other annotators while looking; press Next again.")


def _cursor(c: Connection, project: Project, annotator: str) -> int | None:
    return c.execute(select(cursors.c.annotation_id).where(cursors.c.project_id == project.id,
                                                           cursors.c.annotator == annotator)).scalar()


def current(store: Store, project: Project, annotator: str, order: str = "corpus",
            claim_ttl: float = CLAIM_TTL) -> Item | None:
    """Where the annotator stopped (the stored cursor); a new text if there is none or it was handed on."""
    annotator = check_annotator(annotator)
    with store.tx() as c:
        aid = _cursor(c, project, annotator)
        if aid is not None:
            item = _item(c, aid)
            if item.status != "draft" or _claim_text(c, item.text_id, annotator, claim_ttl):
                return item
    return claim_next(store, project, annotator, order, claim_ttl)


def _own(c: Connection, annotation_id: Any, annotator: str) -> Item:
    try:
        aid = int(annotation_id)
    except (TypeError, ValueError):
        raise ValueError("No text is open: pick a project and press “Open”.") from None
    item = _item(c, aid)
    if item.annotator != check_annotator(annotator):
        raise ValueError(f"This text is {item.annotator}'s annotation; open the project under your own name.")
    return item


def _record(c: Connection, project: Project, item: Item) -> None:
    c.execute(history.insert().values(annotation_id=item.annotation_id, project_id=project.id,
                                      annotator=item.annotator, status=item.status, entities=item.entities, at=now()))


def edit(store: Store, project: Project, annotation_id: int, annotator: str,
         change: Callable[[str, list[dict]], tuple[list[dict], str]], claim_ttl: float = CLAIM_TTL) -> tuple[Item, str]:
    """Apply ``change(text, entities) -> (entities, note)`` to an annotation and commit it (history kept)."""
    with store.tx() as c:
        item = _own(c, annotation_id, annotator)
        if item.status == "draft" and not _claim_text(c, item.text_id, item.annotator, claim_ttl):
            raise ValueError("This text was handed to another annotator while it was left idle; press Next.")
        new, note = change(item.text, item.entities)
        _record(c, project, item)
        c.execute(update(annotations).where(annotations.c.id == item.annotation_id)
                  .values(entities=new, edits=annotations.c.edits + 1, updated_at=now()))
        return _item(c, item.annotation_id), note


def add(store: Store, project: Project, annotation_id: int, annotator: str, span: str | tuple[int, int],
        label: str) -> tuple[Item, str]:
    """Add an entity (text, ``START:END`` or offsets; snapped to words) with a project label."""
    return edit(store, project, annotation_id, annotator,
                lambda text, es: ents.add(text, es, span, label, project.labels))


def remove(store: Store, project: Project, annotation_id: int, annotator: str, ref: str) -> tuple[Item, str]:
    """Remove the entity ``START:END``."""
    return edit(store, project, annotation_id, annotator, lambda text, es: ents.remove(text, es, ref))


def relabel(store: Store, project: Project, annotation_id: int, annotator: str, ref: str,
            label: str) -> tuple[Item, str]:
    """Give the entity ``START:END`` another project label."""
    return edit(store, project, annotation_id, annotator,
                lambda text, es: ents.relabel(text, es, ref, label, project.labels))


def _set_status(c: Connection, project: Project, item: Item, status: str) -> None:
    """Change an annotation's status, keeping the text's accepted count and claim right."""
    delta = (status == "accepted") - (item.status == "accepted")
    values: dict[str, Any] = {"status": status, "updated_at": now()}
    if status == "accepted":
        values["accepted_at"] = now()
    c.execute(update(annotations).where(annotations.c.id == item.annotation_id).values(**values))
    if delta:
        c.execute(update(texts).where(texts.c.id == item.text_id).values(n_accepted=texts.c.n_accepted + delta))
    if status == "draft":
        if not _claim_text(c, item.text_id, item.annotator, CLAIM_TTL):
            raise ValueError("Another annotator holds this text now; it cannot be reopened.")
    else:
        _release(c, item.text_id, item.annotator)


def _after(c: Connection, project: Project, annotator: str, annotation_id: int) -> int | None:
    """The annotator's next annotation (in the order they were handed out) after this one, if any."""
    return c.execute(select(annotations.c.id).join(texts, texts.c.id == annotations.c.text_id)
                     .where(texts.c.project_id == project.id, annotations.c.annotator == annotator,
                            annotations.c.id > annotation_id).order_by(annotations.c.id).limit(1)).scalar()


def _finish(store: Store, project: Project, annotation_id: int, annotator: str, status: str,
            order: str, claim_ttl: float = CLAIM_TTL) -> Item | None:
    """Give the annotation ``status`` and return the annotator's next text. Giving it the status it already has
    changes nothing (a repeated Accept never reaches the next text); a draft whose claim went to someone else, or
    whose text got all its accepts meanwhile, is refused like an edit."""
    with store.tx() as c:
        item = _own(c, annotation_id, annotator)
        if item.status != status:
            if item.status == "draft" and not _claim_text(c, item.text_id, item.annotator, claim_ttl,
                                                          project.overlap if status == "accepted" else None):
                raise ValueError("This text was handed to another annotator while it was left idle, and it is "
                                 "theirs now; nothing was saved as accepted. Press Next.")
            _record(c, project, item)
            _set_status(c, project, item, status)
        nxt = _after(c, project, item.annotator, item.annotation_id)
        if nxt is not None:
            _set_cursor(c, project, item.annotator, nxt)
            return _item(c, nxt)
    return claim_next(store, project, item.annotator, order, claim_ttl)


def annotation_of(store: Store, project: Project, text_id: Any, annotator: str) -> Item:
    """``annotator``'s annotation of the text ``text_id`` in ``project`` (the text an Accept names)."""
    try:
        tid = int(text_id)
    except (TypeError, ValueError):
        raise ValueError("No text is open: pick a project and press “Open”.") from None
    with store.tx() as c:
        aid = c.execute(select(annotations.c.id).join(texts, texts.c.id == annotations.c.text_id)
                        .where(texts.c.project_id == project.id, texts.c.id == tid,
                               annotations.c.annotator == check_annotator(annotator))).scalar()
        if aid is None:
            raise ValueError(f"You have not opened text id {tid} in “{project.name}”.")
        return _item(c, aid)


def accept(store: Store, project: Project, annotation_id: int, annotator: str, order: str = "corpus",
           claim_ttl: float = CLAIM_TTL) -> Item | None:
    """Accept the annotation (committed), then return the next text (None: the queue is empty)."""
    return _finish(store, project, annotation_id, annotator, "accepted", order, claim_ttl)


def skip(store: Store, project: Project, annotation_id: int, annotator: str, order: str = "corpus") -> Item | None:
    """Skip the text (recorded as skipped; others may still annotate it), then return the next text."""
    return _finish(store, project, annotation_id, annotator, "skipped", order)


def undo(store: Store, project: Project, annotator: str) -> tuple[Item, str]:
    """Undo the annotator's latest change in this project (an edit, accept or skip) and open that text."""
    annotator = check_annotator(annotator)
    with store.tx() as c:
        last = c.execute(select(history).where(history.c.project_id == project.id, history.c.annotator == annotator)
                         .order_by(history.c.id.desc()).limit(1)).first()
        if last is None:
            raise ValueError("Nothing to undo.")
        item = _item(c, last.annotation_id)
        if last.status != item.status:
            _set_status(c, project, item, last.status)
            _hand_back(c, project, annotator, item.annotation_id)
        c.execute(update(annotations).where(annotations.c.id == item.annotation_id)
                  .values(entities=list(last.entities or []), updated_at=now()))
        c.execute(delete(history).where(history.c.id == last.id))
        _set_cursor(c, project, annotator, item.annotation_id)
        what = "the edit" if last.status == item.status else f"“{item.status}” (back to {last.status})"
        return _item(c, item.annotation_id), f"Undid {what} on text {item.position + 1}."


def _hand_back(c: Connection, project: Project, annotator: str, after: int) -> None:
    """Release the texts handed to ``annotator`` after annotation ``after`` that they have not touched (an undone
    accept or skip takes them back to the earlier text): others can have them, and they come back in queue order."""
    rows = c.execute(select(annotations.c.id, annotations.c.text_id).join(texts, texts.c.id == annotations.c.text_id)
                     .where(texts.c.project_id == project.id, annotations.c.annotator == annotator,
                            annotations.c.id > after, annotations.c.status == "draft",
                            annotations.c.edits == 0)).all()
    for aid, tid in rows:
        if c.execute(select(history.c.id).where(history.c.annotation_id == aid).limit(1)).first() is None:
            c.execute(delete(annotations).where(annotations.c.id == aid))
            _release(c, tid, annotator)


def previous(store: Store, project: Project, annotation_id: Any, annotator: str) -> Item:
    """The annotator's annotation before this one (to review or change it)."""
    with store.tx() as c:
        item = _own(c, annotation_id, annotator)
        prev = c.execute(select(annotations.c.id).join(texts, texts.c.id == annotations.c.text_id)
                         .where(texts.c.project_id == project.id, annotations.c.annotator == item.annotator,
                                annotations.c.id < item.annotation_id)
                         .order_by(annotations.c.id.desc()).limit(1)).scalar()
        if prev is None:
            raise ValueError("This is the first text you annotated in this project.")
        _set_cursor(c, project, item.annotator, prev)
        return _item(c, prev)


def forward(store: Store, project: Project, annotation_id: Any, annotator: str, order: str = "corpus") -> Item | None:
    """The annotator's next annotation; from the newest, a new text once this one is accepted or skipped."""
    with store.tx() as c:
        item = _own(c, annotation_id, annotator)
        nxt = _after(c, project, item.annotator, item.annotation_id)
        if nxt is not None:
            _set_cursor(c, project, item.annotator, nxt)
            return _item(c, nxt)
        if item.status == "draft":
            raise ValueError("Accept or skip this text first (it is saved as a draft).")
    return claim_next(store, project, item.annotator, order)


def preannotate(store: Store, annotation_id: int, entities: list[dict], model: str,
                threshold: float | None) -> Item:
    """Store a model's entities on an untouched draft (no edits, not imported); otherwise leave it as it is."""
    with store.tx() as c:
        item = _item(c, int(annotation_id))
        if item.status == "draft" and item.edits == 0 and item.model is None and not item.entities:
            clean = ents.normalize(item.text, entities)
            c.execute(update(annotations).where(and_(annotations.c.id == item.annotation_id, annotations.c.edits == 0))
                      .values(entities=clean, model=model, threshold=threshold, updated_at=now()))
        return _item(c, item.annotation_id)
