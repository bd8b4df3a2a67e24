"""Shop facts (versioned per shop), which shop a stream sells for and its link changes, the
promises checked in each segment, and the fact a facts finding cites (facts/, store/shops.py).

Revision 0004, after 0003, made 2026-12-06."""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "fact" not in {c["name"] for c in inspector.get_columns("finding")}:
        with op.batch_alter_table('finding', schema=None) as batch_op:
            batch_op.add_column(sa.Column('fact', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # A database made before migrations had any table it lacked made as the code declares it now
    # (store/migrate.py): then these are there already.
    if "shop" in inspector.get_table_names():
        return
    op.create_table('shop',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('stream_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stream', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('link', sa.Integer(), nullable=False),
    sa.Column('product', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at_s', sa.Float(), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stream_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stream_link_stream'), ['stream'], unique=False)

    op.create_table('shop_facts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'version')
    )
    with op.batch_alter_table('shop_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_facts_shop_id'), ['shop_id'], unique=False)

    op.create_table('stream_shop',
    sa.Column('stream', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('shop_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], ),
    sa.PrimaryKeyConstraint('stream')
    )
    with op.batch_alter_table('stream_shop', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stream_shop_shop_id'), ['shop_id'], unique=False)

    op.create_table('promise_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('segment_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('said', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('span_start', sa.Integer(), nullable=False),
    sa.Column('span_end', sa.Integer(), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('check_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fact', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('facts', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('product', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['segment_id'], ['segment.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('promise_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promise_check_segment_id'), ['segment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_column('fact')

    with op.batch_alter_table('promise_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promise_check_segment_id'))

    op.drop_table('promise_check')
    with op.batch_alter_table('stream_shop', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stream_shop_shop_id'))

    op.drop_table('stream_shop')
    with op.batch_alter_table('shop_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shop_facts_shop_id'))

    op.drop_table('shop_facts')
    with op.batch_alter_table('stream_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stream_link_stream'))

    op.drop_table('stream_link')
    op.drop_table('shop')
