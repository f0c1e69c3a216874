"""Initial schema: projects, texts, annotations, history, cursors.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the tables (a frozen copy of the schema as it was at this revision)."""
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("model", sa.String(500)),
        sa.Column("threshold", sa.Float),
        sa.Column("overlap", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", TS, nullable=False))
    op.create_table(
        "texts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("source_id", sa.String(500)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("preannotation", sa.JSON),
        sa.Column("uncertainty", sa.Float),
        sa.Column("n_accepted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_at", TS),
        sa.UniqueConstraint("project_id", "position", name="uq_texts_position"))
    op.create_index("ix_texts_queue", "texts", ["project_id", "n_accepted", "position"])
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text_id", sa.Integer, sa.ForeignKey("texts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entities", sa.JSON, nullable=False),
        sa.Column("model", sa.String(500)),
        sa.Column("threshold", sa.Float),
        sa.Column("edits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("accepted_at", TS),
        sa.UniqueConstraint("text_id", "annotator", name="uq_annotations_text_annotator"))
    op.create_index("ix_annotations_annotator", "annotations", ["annotator", "id"])
    op.create_table(
        "history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("annotation_id", sa.Integer, sa.ForeignKey("annotations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entities", sa.JSON, nullable=False),
        sa.Column("at", TS, nullable=False))
    op.create_index("ix_history_annotator", "history", ["project_id", "annotator", "id"])
    op.create_table(
        "cursors",
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("annotator", sa.String(200), primary_key=True),
        sa.Column("annotation_id", sa.Integer, sa.ForeignKey("annotations.id", ondelete="SET NULL")),
        sa.Column("updated_at", TS, nullable=False))


def downgrade() -> None:
    """Drop every table."""
    for name in ("cursors", "history", "annotations", "texts", "projects"):
        op.drop_table(name)
