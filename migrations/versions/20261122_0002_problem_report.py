"""Problem reports: an annotator says a clip cannot be judged (no face, several faces,
broken video). Stored apart from votes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('problem_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clip_id', sa.Integer(), nullable=False),
    sa.Column('reporter_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('no_face', 'several_faces', 'broken_video')", name=op.f('ck_problem_report_kind')),
    sa.ForeignKeyConstraint(['clip_id'], ['clip.id'], name=op.f('fk_problem_report_clip_id_clip')),
    sa.ForeignKeyConstraint(['reporter_id'], ['person.id'], name=op.f('fk_problem_report_reporter_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_problem_report')),
    sa.UniqueConstraint('clip_id', 'reporter_id', 'kind', name=op.f('uq_problem_report_clip_id_reporter_id_kind'))
    )
    with op.batch_alter_table('problem_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_report_clip_id'), ['clip_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_report_reporter_id'), ['reporter_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('problem_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problem_report_reporter_id'))
        batch_op.drop_index(batch_op.f('ix_problem_report_clip_id'))

    op.drop_table('problem_report')
