"""The annotation store's tables (SQLAlchemy Core): projects, texts, annotations, their edit history, cursors.

Entities are stored as JSON lists of ``{"start", "end", "label"}`` character spans. The Alembic migrations in
``spandec/store/migrations`` create and change these tables; this module is what the code reads and writes.
"""

from __future__ import annotations

from sqlalchemy import (JSON, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

__all__ = ["metadata", "projects", "texts", "annotations", "history", "cursors", "STATUSES"]

STATUSES = ("draft", "accepted", "skipped")
metadata = MetaData()

projects = Table(
    "projects", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("labels", JSON, nullable=False),  # ["PER", "LOC", ...]
    Column("model", String(500)),  # model used for pre-annotation (a name the app serves), or NULL
    Column("threshold", Float),
    Column("overlap", Integer, nullable=False, server_default="1"),  # annotators wanted per text
    Column("created_at", DateTime(timezone=True), nullable=False),
)

texts = Table(
    "texts", metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # order in the imported corpus
    Column("source_id", String(500)),  # id in the source (file:line, task id, ...)
    Column("text", Text, nullable=False),
    Column("preannotation", JSON),  # spans that came with the import (Label Studio, doccano, CoNLL), or NULL
    Column("uncertainty", Float),  # model uncertainty, for ordering the queue (NULL: not scored)
    Column("disagreement", Float),  # how much the served models disagree (query by committee; NULL: not scored)
    Column("n_accepted", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(200)),  # the annotator working on it now, or NULL
    Column("claimed_at", DateTime(timezone=True)),
    UniqueConstraint("project_id", "position", name="uq_texts_position"),
)
Index("ix_texts_queue", texts.c.project_id, texts.c.n_accepted, texts.c.position)

annotations = Table(
    "annotations", metadata,
    Column("id", Integer, primary_key=True),
    Column("text_id", Integer, ForeignKey("texts.id", ondelete="CASCADE"), nullable=False),
    Column("annotator", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # draft | accepted | skipped
    Column("entities", JSON, nullable=False),
    Column("model", String(500)),  # what pre-annotated it (a model name, "import"), or NULL
    Column("threshold", Float),
    Column("edits", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    UniqueConstraint("text_id", "annotator", name="uq_annotations_text_annotator"),
)
Index("ix_annotations_annotator", annotations.c.annotator, annotations.c.id)

history = Table(  # one row per change, holding the state before it: what undo restores
    "history", metadata,
    Column("id", Integer, primary_key=True),
    Column("annotation_id", Integer, ForeignKey("annotations.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("annotator", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("entities", JSON, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_history_annotator", history.c.project_id, history.c.annotator, history.c.id)

cursors = Table(  # where each annotator is in each project: resuming starts here
    "cursors", metadata,
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("annotator", String(200), primary_key=True),
    Column("annotation_id", Integer, ForeignKey("annotations.id", ondelete="SET NULL")),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
