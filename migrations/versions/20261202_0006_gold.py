"""Gold (check) clips with known answers, and practice-round votes (issue 15).

Two new tables; nothing existing is altered, so the queue triggers of 0005 are untouched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gold_clip',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clip_id', sa.Integer(), nullable=False),
    sa.Column('emotion', sa.SmallInteger(), nullable=False),
    sa.Column('set_by', sa.String(length=200), nullable=True),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('emotion BETWEEN 1 AND 7', name=op.f('ck_gold_clip_emotion')),
    sa.ForeignKeyConstraint(['clip_id'], ['clip.id'], name=op.f('fk_gold_clip_clip_id_clip')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gold_clip')),
    sa.UniqueConstraint('clip_id', name=op.f('uq_gold_clip_clip_id'))
    )
    op.create_table('practice_vote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('clip_id', sa.Integer(), nullable=False),
    sa.Column('emotion', sa.SmallInteger(), nullable=False),
    sa.Column('gold_emotion', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('emotion BETWEEN 1 AND 7', name=op.f('ck_practice_vote_emotion')),
    sa.CheckConstraint('gold_emotion BETWEEN 1 AND 7',
                       name=op.f('ck_practice_vote_gold_emotion')),
    sa.ForeignKeyConstraint(['clip_id'], ['clip.id'],
                            name=op.f('fk_practice_vote_clip_id_clip')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'],
                            name=op.f('fk_practice_vote_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practice_vote')),
    sa.UniqueConstraint('person_id', 'clip_id', name=op.f('uq_practice_vote_person_id_clip_id'))
    )
    with op.batch_alter_table('practice_vote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practice_vote_clip_id'), ['clip_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_practice_vote_person_id'), ['person_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('practice_vote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practice_vote_person_id'))
        batch_op.drop_index(batch_op.f('ix_practice_vote_clip_id'))
    op.drop_table('practice_vote')
    op.drop_table('gold_clip')
