"""Initial schema: the whole data model of DESIGN.md §3.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 04:46:12.211914
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('movie',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('genre', sa.Text(), nullable=True),
    sa.Column('country', sa.Text(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('fps', sa.Float(), nullable=True),
    sa.Column('frame_count', sa.Integer(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('codec', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('ok', 'rejected')", name=op.f('ck_movie_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_movie')),
    sa.UniqueConstraint('sha256', name=op.f('uq_movie_sha256'))
    )
    with op.batch_alter_table('movie', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_movie_path'), ['path'], unique=False)

    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=128), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('annotator', 'extractor', 'admin')", name=op.f('ck_person_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('name', name=op.f('uq_person_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_person_token_hash'))
    )
    op.create_table('run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('loss', sa.String(length=32), nullable=False),
    sa.Column('fold', sa.SmallInteger(), nullable=True),
    sa.Column('scheme', sa.String(length=64), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('checkpoint_path', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run')),
    sa.UniqueConstraint('name', name=op.f('uq_run_name'))
    )
    op.create_table('clip',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('movie_id', sa.Integer(), nullable=True),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('extractor_id', sa.Integer(), nullable=True),
    sa.Column('intended_emotion', sa.SmallInteger(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('manual', 'proposed', 'imported')", name=op.f('ck_clip_source')),
    sa.CheckConstraint("status IN ('candidate', 'accepted', 'rejected')", name=op.f('ck_clip_status')),
    sa.CheckConstraint('end_s > start_s', name=op.f('ck_clip_span')),
    sa.CheckConstraint('intended_emotion BETWEEN 1 AND 7', name=op.f('ck_clip_intended_emotion')),
    sa.ForeignKeyConstraint(['extractor_id'], ['person.id'], name=op.f('fk_clip_extractor_id_person')),
    sa.ForeignKeyConstraint(['movie_id'], ['movie.id'], name=op.f('fk_clip_movie_id_movie')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clip'))
    )
    with op.batch_alter_table('clip', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clip_extractor_id'), ['extractor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_clip_movie_id'), ['movie_id'], unique=False)

    op.create_table('assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clip_id', sa.Integer(), nullable=False),
    sa.Column('annotator_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('assigned', 'imported')", name=op.f('ck_assignment_source')),
    sa.ForeignKeyConstraint(['annotator_id'], ['person.id'], name=op.f('fk_assignment_annotator_id_person')),
    sa.ForeignKeyConstraint(['clip_id'], ['clip.id'], name=op.f('fk_assignment_clip_id_clip')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment')),
    sa.UniqueConstraint('clip_id', 'annotator_id', name=op.f('uq_assignment_clip_id_annotator_id'))
    )
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_annotator_id'), ['annotator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignment_clip_id'), ['clip_id'], unique=False)

    op.create_table('face_track',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clip_id', sa.Integer(), nullable=False),
    sa.Column('detector', sa.String(length=32), nullable=False),
    sa.Column('frames_total', sa.Integer(), nullable=False),
    sa.Column('frames_with_face', sa.Integer(), nullable=False),
    sa.Column('face_rate', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('storage', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('kept', 'dropped_low_face_rate', 'failed')", name=op.f('ck_face_track_status')),
    sa.ForeignKeyConstraint(['clip_id'], ['clip.id'], name=op.f('fk_face_track_clip_id_clip')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_track')),
    sa.UniqueConstraint('clip_id', 'detector', name=op.f('uq_face_track_clip_id_detector'))
    )
    with op.batch_alter_table('face_track', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_track_clip_id'), ['clip_id'], unique=False)

    op.create_table('fold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clip_id', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=64), nullable=False),
    sa.Column('fold', sa.SmallInteger(), nullable=False),
    sa.CheckConstraint('fold >= 1', name=op.f('ck_fold_fold')),
    sa.ForeignKeyConstraint(['clip_id'], ['clip.id'], name=op.f('fk_fold_clip_id_clip')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fold')),
    sa.UniqueConstraint('clip_id', 'scheme', name=op.f('uq_fold_clip_id_scheme'))
    )
    with op.batch_alter_table('fold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fold_clip_id'), ['clip_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fold_scheme'), ['scheme'], unique=False)

    op.create_table('vote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clip_id', sa.Integer(), nullable=False),
    sa.Column('annotator_id', sa.Integer(), nullable=False),
    sa.Column('emotion', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('emotion BETWEEN 1 AND 7', name=op.f('ck_vote_emotion')),
    sa.ForeignKeyConstraint(['clip_id', 'annotator_id'], ['assignment.clip_id', 'assignment.annotator_id'], name=op.f('fk_vote_clip_id_annotator_id_assignment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote')),
    sa.UniqueConstraint('clip_id', 'annotator_id', name=op.f('uq_vote_clip_id_annotator_id'))
    )
    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_annotator_id'), ['annotator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vote_clip_id'), ['clip_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_clip_id'))
        batch_op.drop_index(batch_op.f('ix_vote_annotator_id'))

    op.drop_table('vote')
    with op.batch_alter_table('fold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fold_scheme'))
        batch_op.drop_index(batch_op.f('ix_fold_clip_id'))

    op.drop_table('fold')
    with op.batch_alter_table('face_track', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_track_clip_id'))

    op.drop_table('face_track')
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_clip_id'))
        batch_op.drop_index(batch_op.f('ix_assignment_annotator_id'))

    op.drop_table('assignment')
    with op.batch_alter_table('clip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clip_movie_id'))
        batch_op.drop_index(batch_op.f('ix_clip_extractor_id'))

    op.drop_table('clip')
    op.drop_table('run')
    op.drop_table('person')
    with op.batch_alter_table('movie', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_movie_path'))

    op.drop_table('movie')
