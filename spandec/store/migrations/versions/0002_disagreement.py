"""texts.disagreement: how much the loaded models disagree on a text (query by committee), for ordering the queue.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the committee disagreement column (NULL: not scored)."""
    with op.batch_alter_table("texts") as batch:
        batch.add_column(sa.Column("disagreement", sa.Float))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("texts") as batch:
        batch.drop_column("disagreement")
