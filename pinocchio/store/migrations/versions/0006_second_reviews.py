"""Second reviews of decided cases, blind, and what a senior made of disagreements (moderation/qa.py);
the model that raised each finding, at its version.

Revision 0006, after 0005, made 2026-12-06."""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "model" not in {c["name"] for c in inspector.get_columns("finding")}:
        with op.batch_alter_table('finding', schema=None) as batch_op:
            batch_op.add_column(sa.Column('model', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # A database made before migrations has the table already (store/migrate.py).
    if "qa_review" in inspector.get_table_names():
        return
    op.create_table('qa_review',
    sa.Column('segment_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('first_reviewer', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('first_decision', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('first_labels', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('second_reviewer', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('second_decision', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('second_labels', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('agreed', sa.Boolean(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['segment_id'], ['segment.id'], ),
    sa.PrimaryKeyConstraint('segment_id')
    )
    with op.batch_alter_table('qa_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_review_agreed'), ['agreed'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_review_first_reviewer'), ['first_reviewer'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_review_second_reviewer'), ['second_reviewer'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_column('model')

    with op.batch_alter_table('qa_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_review_second_reviewer'))
        batch_op.drop_index(batch_op.f('ix_qa_review_first_reviewer'))
        batch_op.drop_index(batch_op.f('ix_qa_review_agreed'))

    op.drop_table('qa_review')
