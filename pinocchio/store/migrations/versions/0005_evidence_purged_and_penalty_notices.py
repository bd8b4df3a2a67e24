"""When an evidence clip was deleted past its retention (moderation/retention.py), and the outbox of
penalty notices to streamers (moderation/notices.py).

Revision 0005, after 0004, made 2026-12-06."""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "purged_at" not in {c["name"] for c in inspector.get_columns("evidence_clip")}:
        with op.batch_alter_table('evidence_clip', schema=None) as batch_op:
            batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))
    # A database made before migrations has the table already (store/migrate.py).
    if "penalty_notice" in inspector.get_table_names():
        return
    op.create_table('penalty_notice',
    sa.Column('penalty_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('next_try_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('delivered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('penalty_id', 'kind')
    )


def downgrade() -> None:
    with op.batch_alter_table('evidence_clip', schema=None) as batch_op:
        batch_op.drop_column('purged_at')

    op.drop_table('penalty_notice')
