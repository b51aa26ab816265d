"""`derive serve`: the ASGI app (Starlette) of CONTRACT section 8.

Pages: `/` the assignments, `/a/<assignment>?token=…` the exercise, `/lecturer?token=…` the class
summary. API: POST /api/check, POST /api/validate, GET /api/gradebook.csv, GET /healthz. Grading
runs in a pool of worker processes (forked after the specs are derived, so each worker has them);
every submission goes to the database, the only state the app keeps, so several instances can share
one PostgreSQL. Errors are JSON `{"error": …}` with the contract's status codes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections import defaultdict, deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import checker, sheets, storage

MAX_BODY = 64 * 1024  # bytes of a request body (413 above)
RATE_WINDOW = 60  # seconds over which the per-token limits count
VALIDATE_PER_MINUTE = 240  # live previews per token and instance (nothing stored: a per-instance limit suffices)
WORKER_MEMORY = 3 * 2**30  # bytes of address space per checking process
JOB_DEADLINE = 60  # seconds a worker may take on one job; the checker's own limit is 1 s per answer
POLICIES = ("best", "last")
SECURITY_HEADERS = {
    # nothing is loaded from elsewhere; KaTeX writes inline style attributes, hence 'unsafe-inline' for styles
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # the page's address carries the student's token
    "x-frame-options": "DENY",
}


@dataclass
class Settings:
    folder: str
    db: str = "sqlite:///derive.db"
    roster: dict[str, str] = field(default_factory=dict)  # token -> student name
    admin_token: str | None = None
    show_expected: bool = False
    variants: bool = False  # each student gets their own variant of every assignment
    gradebook: str = "best"  # best or last submission, unless the request says otherwise
    workers: int = 0  # 0: one per CPU
    rate_limit: int = 30  # checks per token per minute; 0: no limit


class Failure(Exception):
    """A request that cannot be served: its status and the message of the JSON error."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Who:
    name: str
    lecturer: bool = False


# --------------------------------------------------------------------------- worker processes

_ENGINES: dict = {}  # in a worker: the derived specs, inherited from the parent by fork


def _install(engines: dict) -> None:
    """A worker's start: the derived specs, and a ceiling on its memory (an answer that would exhaust
    the machine fails in its worker, with MemoryError, instead)."""
    global _ENGINES
    _ENGINES = engines
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        ceiling = WORKER_MEMORY if hard == resource.RLIM_INFINITY else min(WORKER_MEMORY, hard)
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    except (ImportError, ValueError, OSError):  # not on this platform: the checker's own size limits remain
        pass


def _grade_job(assignment: str, answers: dict, seed: int | None) -> list[dict]:
    return checker.grade(_ENGINES[assignment], answers, seed)


def _validate_job(assignment: str, seed: int | None, key: str, text: str, lang: str) -> dict:
    return checker.validate(_ENGINES[assignment], seed, key, text, lang)


def _ready(_=None) -> int:
    return os.getpid()


class Pool:
    """The worker processes. A worker that dies costs its request a 500; one that hangs past JOB_DEADLINE
    (a bug below the checker's own time limit) a 503; either way the workers are replaced."""

    def __init__(self, engines: dict, workers: int):
        import multiprocessing

        self.engines, self.workers = engines, workers or os.cpu_count() or 1
        self.context = multiprocessing.get_context("fork")
        self.executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_install,
                                       initargs=(self.engines,))
        list(executor.map(_ready, range(self.workers)))  # fork now, before the server's threads exist
        return executor

    async def run(self, job, *args):
        loop = asyncio.get_running_loop()
        executor = self.executor
        try:
            return await asyncio.wait_for(loop.run_in_executor(executor, job, *args), JOB_DEADLINE)
        except BrokenProcessPool:
            self._replace(executor)
            raise Failure(500, "the checker stopped while checking this request; it has been restarted") from None
        except asyncio.TimeoutError:
            self._replace(executor, kill=True)
            raise Failure(503, f"the check took more than {JOB_DEADLINE} s and was stopped; try again") from None

    def _replace(self, broken: ProcessPoolExecutor, kill: bool = False) -> None:
        """New workers for broken ones (once, however many requests saw them fail)."""
        if broken is not self.executor:
            return
        if kill:
            for process in list((getattr(broken, "_processes", None) or {}).values()):
                process.kill()
        broken.shutdown(wait=False, cancel_futures=True)
        self.executor = self._start()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- the app


class Server:
    """The app's parts: settings, derived assignments, database, worker pool, per-instance preview limits."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.assignments, self.skipped = checker.load(settings.folder)
        self.tokens = {_digest(token): name for token, name in settings.roster.items()}
        self.admin = _digest(settings.admin_token) if settings.admin_token else None
        self.db = None
        self.pool: Pool | None = None
        self.previews: dict[str, deque] = defaultdict(deque)
        self.questions: dict[tuple, dict] = {}  # (assignment, seed, lang) -> the page's question, made once

    async def question(self, name: str, seed: int | None, lang: str) -> dict:
        key = (name, seed, lang)
        if key not in self.questions:
            self.questions[key] = await self.pool.run(_question_job, name, seed, lang)
        return self.questions[key]

    def start(self) -> None:
        """Connect (migrating the schema) and fork the workers; once, whoever calls first."""
        if self.db is None:
            self.db = storage.connect(self.settings.db)
        if self.pool is None:
            self.pool = Pool(self.assignments, self.settings.workers)

    def stop(self) -> None:
        if self.pool:
            self.pool.close()
            self.pool = None
        if self.db:
            self.db.dispose()
            self.db = None

    # -- who is asking

    def who(self, request: Request, query_token: bool = False) -> Who:
        token = _bearer(request) or (request.query_params.get("token") if query_token else None)
        if not token:
            raise Failure(401, "a token is needed: Authorization: Bearer <token>")
        digest = _digest(token)
        if self.admin is not None and digest == self.admin:
            return Who(storage.LECTURER, lecturer=True)
        if digest in self.tokens:
            return Who(self.tokens[digest])
        raise Failure(401, "this token is not valid")

    def engine(self, name) -> object:
        if not isinstance(name, str) or name not in self.assignments:
            raise Failure(404, f"unknown assignment {name!r}; the assignments are: {', '.join(self.assignments)}")
        return self.assignments[name]

    def seed(self, assignment: str, who: Who) -> int | None:
        if not self.settings.variants or who.lecturer:
            return None
        return checker.variant_seed(assignment, who.name)

    def preview_allowed(self, who: Who) -> bool:
        window, moment = self.previews[who.name], time.monotonic()
        while window and window[0] < moment - RATE_WINDOW:
            window.popleft()
        if len(window) >= VALIDATE_PER_MINUTE:
            return False
        window.append(moment)
        return True


def _digest(token: str) -> str:
    """Tokens are looked up by their hash: a dictionary lookup then tells nothing about near misses."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def read_json(request: Request) -> dict:
    """The body as a JSON object: 413 over MAX_BODY bytes (counted as they arrive), 422 if not an object."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise Failure(413, f"the body is over {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Failure(413, f"the body is over {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Failure(422, f"the body is not JSON: {exc}") from None
    except RecursionError:  # [[[[…]]]] nested deeper than the decoder goes
        raise Failure(422, "the body is nested too deeply to be read") from None
    if not isinstance(data, dict):
        raise Failure(422, "the body must be a JSON object")
    return data


def language(request: Request, asked=None) -> str:
    """?lang=, else the body's lang, else the browser's Accept-Language, else English."""
    from derive.core.languages import languages

    known = languages()
    for candidate in (request.query_params.get("lang"), asked):
        if isinstance(candidate, str) and candidate in known:
            return candidate
    return _accepted(request.headers.get("accept-language", ""), known)


def _accepted(header: str, known: tuple[str, ...]) -> str:
    ranked = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.split("-")[0].lower()))
    return next((tag for _, _, tag in sorted(ranked) if tag in known), "en")


# --------------------------------------------------------------------------- API


async def _asked(request: Request):
    """What an answering request names: the server, who asks, the JSON body, the assignment, its engine
    and this student's variant seed (errors as Failure, in this order)."""
    server: Server = request.app.state.server
    who = server.who(request)
    body = await read_json(request)
    name = body.get("assignment")
    return server, who, body, name, server.engine(name), server.seed(name, who)


async def api_check(request: Request) -> Response:
    server, who, body, name, engine, seed = await _asked(request)
    answers = _answers(body.get("answers"), checker.asked(engine, seed))
    lang = language(request, body.get("lang"))
    limit = server.settings.rate_limit
    if limit and not who.lecturer and await run_in_threadpool(storage.recent, server.db, who.name, RATE_WINDOW) >= limit:
        raise Failure(429, f"at most {limit} checks a minute; wait a little and submit again")
    verdicts = await server.pool.run(_grade_job, name, answers, seed)
    score = sum(v["verdict"] == "correct" for v in verdicts)
    await run_in_threadpool(storage.add, server.db, assignment=name, student=who.name, seed=seed, lang=lang,
                            answers=answers, verdicts=verdicts, score=score, total=len(verdicts))
    student = None if who.lecturer else who.name
    return JSONResponse(checker.report(student, verdicts, lang, server.settings.show_expected))


def _answers(answers, asked: list[str]) -> dict[str, str]:
    """{key: text} with every key one of the asked names (422 otherwise); numbers are kept as text."""
    if not isinstance(answers, dict):
        raise Failure(422, 'expected "answers": an object {name: formula}')
    out = {}
    for key, value in answers.items():
        if key not in asked:
            raise Failure(422, f"{key!r} is not asked here; expected one of: {', '.join(asked)}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
            raise Failure(422, f"the answer for {key} must be a formula written as text")
        out[key] = None if value is None else str(value)
    return out


async def api_validate(request: Request) -> Response:
    server, who, body, name, engine, seed = await _asked(request)
    key, text = body.get("key"), body.get("answer")
    if key not in checker.asked(engine, seed):
        raise Failure(422, f"{key!r} is not asked here; expected one of: {', '.join(checker.asked(engine, seed))}")
    if not isinstance(text, str):
        raise Failure(422, 'expected "answer": the formula as text')
    if not server.preview_allowed(who):
        raise Failure(429, f"at most {VALIDATE_PER_MINUTE} previews a minute")
    lang = language(request, body.get("lang"))
    if not text.strip():
        return JSONResponse({"ok": False, "message": ""})
    return JSONResponse(await server.pool.run(_validate_job, name, seed, key, text, lang))


async def api_gradebook(request: Request) -> Response:
    server: Server = request.app.state.server
    who = server.who(request, query_token=True)
    if not who.lecturer:
        raise Failure(403, "only the lecturer may read the gradebook")
    name = request.query_params.get("assignment")
    server.engine(name)
    policy = request.query_params.get("policy", server.settings.gradebook)
    if policy not in POLICIES:
        raise Failure(422, f"policy must be one of: {', '.join(POLICIES)}")
    rows = await run_in_threadpool(storage.chosen, server.db, name, policy)
    text = sheets.gradebook(rows, checker.asked(server.engine(name), None), sorted(server.tokens.values()))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}-{policy}.csv"'})


async def healthz(request: Request) -> Response:
    from sqlalchemy import text

    server: Server = request.app.state.server

    def ping():
        with server.db.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except Exception as exc:  # noqa: BLE001 - any database failure means not healthy
        raise Failure(503, f"the database does not answer: {type(exc).__name__}") from None
    return JSONResponse({"ok": True, "assignments": len(server.assignments)})


# --------------------------------------------------------------------------- pages


def pages():
    """The Jinja environment of the HTML pages (autoescaped; prose arrives translated, see words.py)."""
    import jinja2

    loader = jinja2.FileSystemLoader(str(resources.files("derive.web") / "templates"))
    return jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    from derive.render.i18n import language as entry
    from derive.core.languages import languages
    from .words import words

    lang = context.pop("lang", None) or language(request)
    env = request.app.state.pages
    names = [(code, entry(code).name) for code in languages()]  # each language by its own name
    text = env.get_template(template).render(lang=lang, languages=names, t=words(lang),
                                             query=request.query_params, **context)
    # no-store: the back button asks again (the list shows the best result just earned, not the one the
    # browser kept), and a page carrying a student's token and answers stays out of shared caches
    return HTMLResponse(text, status_code=status, headers={"cache-control": "no-store"})


async def index(request: Request) -> Response:
    """The assignments, by title; with a student's token, each with the student's best result so far."""
    server: Server = request.app.state.server
    lang = language(request)
    try:
        who = server.who(request, query_token=True)
    except Failure:
        who = None
    items = []
    for name, engine in server.assignments.items():
        best = None
        if who is not None and not who.lecturer:
            best = (await run_in_threadpool(storage.history, server.db, name, who.name))[2]
        items.append({"name": name, "title": checker.title(engine, lang),
                      "best": {"score": best.score, "total": best.total} if best else None})
    return page(request, "index.html", lang=lang, assignments=items, token=request.query_params.get("token"),
                student=who.name if who and not who.lecturer else None)


async def exercise(request: Request) -> Response:
    server: Server = request.app.state.server
    name = request.path_params["assignment"]
    try:
        engine = server.engine(name)
        who = server.who(request, query_token=True)
    except Failure as failure:
        return _error_page(request, failure, name)
    lang = language(request)
    seed = server.seed(name, who)
    question = await server.question(name, seed, lang)
    latest, count, best = await run_in_threadpool(storage.history, server.db, name, who.name)
    record = {"count": count, "score": best.score, "total": best.total} if best else None
    student = None if who.lecturer else who.name
    # a reload shows the last submission as it was answered: its answers in the inputs, its verdicts under them
    last = checker.report(student, latest.verdicts, lang, server.settings.show_expected) if latest else None
    config = {"assignment": name, "token": request.query_params.get("token") or _bearer(request), "lang": lang,
              "words": checker.verdict_words(lang), "last": last}
    return page(request, "exercise.html", lang=lang, name=name, question=question, seed=seed,
                previous=latest.answers if latest else {}, record=record, student=student, config=config)


def _question_job(assignment: str, seed: int | None, lang: str) -> dict:
    return checker.question(_ENGINES[assignment], seed, lang)


async def lecturer(request: Request) -> Response:
    server: Server = request.app.state.server
    try:
        who = server.who(request, query_token=True)
        if not who.lecturer:
            raise Failure(403, "only the lecturer may see this page")
    except Failure as failure:
        return _error_page(request, failure)
    lang = language(request)
    classes = []
    for name in server.assignments:
        rows = await run_in_threadpool(storage.chosen, server.db, name, server.settings.gradebook)
        lines = checker.summary([(r.student, r.verdicts) for r in rows], lang)
        count = await run_in_threadpool(storage.count, server.db, name)
        classes.append({"name": name, "count": count, "students": len(rows), "summary": "\n".join(lines)})
    return page(request, "lecturer.html", lang=lang, classes=classes, token=request.query_params.get("token"))


def _error_page(request: Request, failure: Failure, name: str | None = None) -> HTMLResponse:
    key = {401: "token", 403: "lecturer_only", 404: "unknown_assignment"}.get(failure.status)
    return page(request, "error.html", status=failure.status, key=key, name=name or "", detail=failure.message)


# --------------------------------------------------------------------------- assembly


async def _failure(request: Request, exc: Failure) -> Response:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _http(request: Request, exc: HTTPException) -> Response:
    """The API answers in JSON; a page that does not exist (a link mistyped or cut short) is a page
    in the student's language."""
    if exc.status_code == 404 and not request.url.path.startswith("/api/"):
        return page(request, "error.html", status=404, key="not_found", name="", detail=exc.detail)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _crash(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "internal error; the request was not stored"}, status_code=500)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (pure ASGI: no buffering of bodies)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def sending(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


def create_app(settings: Settings) -> Starlette:
    """The app; the specs are derived now, the database and workers start with the server (lifespan)."""
    from contextlib import asynccontextmanager

    from starlette.middleware import Middleware

    server = Server(settings)

    @asynccontextmanager
    async def lifespan(app):
        server.start()
        try:
            yield
        finally:
            server.stop()

    here = resources.files("derive.web")
    katex = Path(str(resources.files("derive"))) / "katex"
    routes = [
        Route("/", index),
        Route("/a/{assignment}", exercise),
        Route("/lecturer", lecturer),
        Route("/api/check", api_check, methods=["POST"]),
        Route("/api/validate", api_validate, methods=["POST"]),
        Route("/api/gradebook.csv", api_gradebook),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=str(here / "static")), name="static"),
        Mount("/katex", StaticFiles(directory=str(katex)), name="katex"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={Failure: _failure, HTTPException: _http, Exception: _crash})
    app.state.server = server
    app.state.pages = pages()
    return app
