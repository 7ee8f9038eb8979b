"""Server-side login sessions (revocable: logout, deactivation, a new link), link expiry, and
a per-person queue version kept by triggers so the annotation server can cache a queue
(issue 14).

The triggers bump person.queue_version whenever that person's queue or progress can change:
a vote or an assignment of theirs is inserted or deleted, a problem report of theirs is
filed, resolved or deleted, or a clip they hold changes status, cut path or retirement.
Every writer (the server, every CLI stage, a database tool) is covered because the database
does it.

Note for later migrations: SQLite batch mode recreates a table it cannot ALTER in place,
and that drops the table's triggers. A migration that batch-recreates vote, assignment,
clip or problem_report must create these triggers again (create_queue_triggers below);
tests/integration/test_migrations.py checks that they exist at head.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_BUMP = "UPDATE person SET queue_version = queue_version + 1 WHERE id"

SQLITE_TRIGGERS = {
    "queue_vote_insert": f"AFTER INSERT ON vote BEGIN {_BUMP} = NEW.annotator_id; END",
    "queue_vote_delete": f"AFTER DELETE ON vote BEGIN {_BUMP} = OLD.annotator_id; END",
    "queue_vote_move": (f"AFTER UPDATE OF clip_id, annotator_id ON vote BEGIN "
                        f"{_BUMP} IN (OLD.annotator_id, NEW.annotator_id); END"),
    "queue_assignment_insert": (f"AFTER INSERT ON assignment BEGIN "
                                f"{_BUMP} = NEW.annotator_id; END"),
    "queue_assignment_delete": (f"AFTER DELETE ON assignment BEGIN "
                                f"{_BUMP} = OLD.annotator_id; END"),
    "queue_assignment_move": (f"AFTER UPDATE OF clip_id, annotator_id ON assignment BEGIN "
                              f"{_BUMP} IN (OLD.annotator_id, NEW.annotator_id); END"),
    "queue_clip_change": (f"AFTER UPDATE OF status, path, retired_at ON clip BEGIN "
                          f"{_BUMP} IN (SELECT annotator_id FROM assignment "
                          f"WHERE clip_id = NEW.id); END"),
    "queue_report_insert": (f"AFTER INSERT ON problem_report BEGIN "
                            f"{_BUMP} = NEW.reporter_id; END"),
    "queue_report_change": (f"AFTER UPDATE OF resolved_at, clip_id, reporter_id ON "
                            f"problem_report BEGIN {_BUMP} IN (OLD.reporter_id, "
                            f"NEW.reporter_id); END"),
    "queue_report_delete": (f"AFTER DELETE ON problem_report BEGIN "
                            f"{_BUMP} = OLD.reporter_id; END"),
}

# PostgreSQL: statement-level triggers with transition tables for the bulk writers (votes
# import, assign), row-level ones where a column list is needed.
POSTGRES_FUNCTIONS = {
    "dfew_queue_new_rows": f"{_BUMP} IN (SELECT DISTINCT annotator_id FROM new_rows)",
    "dfew_queue_old_rows": f"{_BUMP} IN (SELECT DISTINCT annotator_id FROM old_rows)",
    "dfew_queue_moved_row": f"{_BUMP} IN (OLD.annotator_id, NEW.annotator_id)",
    "dfew_queue_clip": (f"{_BUMP} IN (SELECT annotator_id FROM assignment "
                        f"WHERE clip_id = NEW.id)"),
    "dfew_queue_report": f"{_BUMP} IN (NEW.reporter_id, OLD.reporter_id)",
    "dfew_queue_report_new": f"{_BUMP} = NEW.reporter_id",
    "dfew_queue_report_old": f"{_BUMP} = OLD.reporter_id",
}
POSTGRES_TRIGGERS = {
    "queue_vote_insert": ("AFTER INSERT ON vote REFERENCING NEW TABLE AS new_rows "
                          "FOR EACH STATEMENT", "dfew_queue_new_rows"),
    "queue_vote_delete": ("AFTER DELETE ON vote REFERENCING OLD TABLE AS old_rows "
                          "FOR EACH STATEMENT", "dfew_queue_old_rows"),
    # Row-level with a column list, as on SQLite: a revised emotion (ON CONFLICT DO UPDATE
    # SET emotion) changes no queue and bumps nothing.
    "queue_vote_move": ("AFTER UPDATE OF clip_id, annotator_id ON vote FOR EACH ROW",
                        "dfew_queue_moved_row"),
    "queue_assignment_insert": ("AFTER INSERT ON assignment REFERENCING NEW TABLE AS new_rows "
                                "FOR EACH STATEMENT", "dfew_queue_new_rows"),
    "queue_assignment_delete": ("AFTER DELETE ON assignment REFERENCING OLD TABLE AS old_rows "
                                "FOR EACH STATEMENT", "dfew_queue_old_rows"),
    "queue_assignment_move": ("AFTER UPDATE OF clip_id, annotator_id ON assignment "
                              "FOR EACH ROW", "dfew_queue_moved_row"),
    "queue_clip_change": ("AFTER UPDATE OF status, path, retired_at ON clip FOR EACH ROW",
                          "dfew_queue_clip"),
    "queue_report_insert": ("AFTER INSERT ON problem_report FOR EACH ROW",
                            "dfew_queue_report_new"),
    "queue_report_change": ("AFTER UPDATE OF resolved_at, clip_id, reporter_id ON "
                            "problem_report FOR EACH ROW", "dfew_queue_report"),
    "queue_report_delete": ("AFTER DELETE ON problem_report FOR EACH ROW",
                            "dfew_queue_report_old"),
}


def create_queue_triggers() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, body in POSTGRES_FUNCTIONS.items():
            op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
                       f"AS $$ BEGIN {body}; RETURN NULL; END $$")
        for name, (when, function) in POSTGRES_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {function}()")
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def drop_queue_triggers() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, (when, _) in POSTGRES_TRIGGERS.items():
            table = when.split(" ON ")[1].split()[0]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in POSTGRES_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    op.create_table('login_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flashes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_login_session_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_login_session_token_hash'))
    )
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_session_person_id'), ['person_id'], unique=False)
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('queue_version', sa.BigInteger(), server_default='0', nullable=False))
    create_queue_triggers()


def downgrade() -> None:
    drop_queue_triggers()
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('queue_version')
        batch_op.drop_column('token_expires_at')
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_session_person_id'))
    op.drop_table('login_session')
