"""The database: every submission (who, when, answers, verdicts), and nothing else the app keeps.

SQLAlchemy 2 over SQLite by default or PostgreSQL by URL. The schema is made and upgraded by the
alembic migrations shipped in derive/web/migrations, run at start-up (`upgrade`), so an upgrade of
derive keeps the data. Every query the app makes is a function here; all take the Engine.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone

from sqlalchemy import JSON, DateTime, Index, Integer, String, create_engine, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

_WRITING = threading.Lock()  # SQLite has one writer: threads queue here rather than in its busy-wait backoff
_NOTHING = nullcontext()
_MIGRATING = threading.Lock()  # alembic's context is global to the process: one migration at a time here
LECTURER = "@lecturer"  # the student name of the lecturer's own submissions (kept, never in the gradebook)


class Base(DeclarativeBase):
    pass


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment: Mapped[str] = mapped_column(String(200))
    student: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lang: Mapped[str] = mapped_column(String(8))
    answers: Mapped[dict] = mapped_column(JSON)
    verdicts: Mapped[list] = mapped_column(JSON)
    score: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_submissions_assignment_student", "assignment", "student", "created_at"),
        Index("ix_submissions_student_created", "student", "created_at"),
    )


def connect(url: str) -> Engine:
    """An Engine for url, the schema upgraded to the newest migration."""
    engine = create_engine(url, pool_pre_ping=True, **_options(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    upgrade(engine)
    return engine


def _options(url: str) -> dict:
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_size": 10, "max_overflow": 10}


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
    # WAL with synchronous=NORMAL: a commit survives the server process crashing or being killed; only a
    # power cut can take back the last commits (PostgreSQL is the choice where that matters)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the shipped alembic migrations up to revision (an empty database gets the whole schema)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "derive.web:migrations")
    with _MIGRATING, engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def now() -> datetime:
    return datetime.now(timezone.utc)


def add(engine: Engine, **fields) -> int:
    """Store one submission; its id."""
    with _WRITING if engine.dialect.name == "sqlite" else _NOTHING, Session(engine) as session, session.begin():
        row = Submission(created_at=now(), **fields)
        session.add(row)
        session.flush()
        return row.id


def recent(engine: Engine, student: str, seconds: int) -> int:
    """How many submissions student made in the last seconds (the rate limit counts these)."""
    since = now() - timedelta(seconds=seconds)
    with Session(engine) as session:
        query = select(func.count()).select_from(Submission).where(
            Submission.student == student, Submission.created_at >= since)
        return session.scalar(query)


def history(engine: Engine, assignment: str, student: str) -> tuple[Submission | None, int, Submission | None]:
    """Student's own record of assignment: the latest submission (None if none; the page starts from its
    answers and verdicts), how many submissions, and the best one (highest score, the later on a tie)."""
    mine = (Submission.assignment == assignment, Submission.student == student)
    with Session(engine) as session:
        latest = session.scalars(select(Submission).where(*mine)
                                 .order_by(Submission.created_at.desc(), Submission.id.desc()).limit(1)).first()
        count = session.scalar(select(func.count()).select_from(Submission).where(*mine))
        best = session.scalars(select(Submission).where(*mine).order_by(
            Submission.score.desc(), Submission.created_at.desc(), Submission.id.desc()).limit(1)).first()
    return latest, count, best


def chosen(engine: Engine, assignment: str, policy: str) -> list[Submission]:
    """Each student's best (highest score, then latest) or last submission of assignment, by student name."""
    with Session(engine) as session:
        rows = session.scalars(
            select(Submission).where(Submission.assignment == assignment, Submission.student != LECTURER)
            .order_by(Submission.student, Submission.created_at, Submission.id)).all()
    picked: dict[str, Submission] = {}
    for row in rows:  # in time order: a later row wins a tie
        old = picked.get(row.student)
        if old is None or policy == "last" or row.score >= old.score:
            picked[row.student] = row
    return [picked[name] for name in sorted(picked)]


def count(engine: Engine, assignment: str | None = None) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(Submission)
        if assignment is not None:
            query = query.where(Submission.assignment == assignment)
        return session.scalar(query)
