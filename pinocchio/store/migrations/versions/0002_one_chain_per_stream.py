"""One chain per stream: events get the chain they are linked in (their stream's, or 0, the global
chain); the rows already there stay on the global chain as they were hashed. On PostgreSQL the ids
now come from the table's sequence (chains append side by side), so it starts after the last id.

Revision 0002, after 0001, made 2026-12-01."""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations had any table it lacked made as the code declares it now
    # (store/migrate.py): then it has the column already.
    if "chain" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("moderation_event")}:
        with op.batch_alter_table('moderation_event', schema=None) as batch_op:
            batch_op.add_column(sa.Column('chain', sa.Integer(), server_default='0', nullable=False))
            batch_op.create_index('ix_moderation_event_chain_id', ['chain', 'id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('moderation_event', 'id'), "
                   "COALESCE((SELECT max(id) FROM moderation_event), 0) + 1, false)")


def downgrade() -> None:
    with op.batch_alter_table('moderation_event', schema=None) as batch_op:
        batch_op.drop_index('ix_moderation_event_chain_id')
        batch_op.drop_column('chain')
