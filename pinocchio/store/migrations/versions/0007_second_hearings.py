"""Segments that are whisper's second hearing of speech stored before (live: the next utterance's
context), kept for the claims the first hearing missed.

Revision 0007, after 0006, made 2026-12-07."""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # Made already where `create_all` made the table as the code declares it (store/migrate.py).
    if "heard_again" in {c["name"] for c in inspector.get_columns("segment")}:
        return
    with op.batch_alter_table('segment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heard_again', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('segment', schema=None) as batch_op:
        batch_op.drop_column('heard_again')
