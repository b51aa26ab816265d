"""`derive build`: every spec × language × format, in parallel, skipping what is up to date.

Outputs go to `<out>/<lang>/<spec-stem>.<ext>` (slides: `<spec-stem>.slides.<ext>`).
An output is up to date when it exists and the hash recorded for it in
`<out>/.derive-cache.json` matches: a SHA-256 of the spec and the files it
reads (a course's chapters), the templates and catalogs, derive's own source
and version, and the options. Jobs run in worker processes (one per core);
each job's error is reported with its output path, and the command exits
non-zero (the largest exit code) if any failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import click

FORMATS = ("pdf", "tex", "md", "json", "html", "ipynb")
CACHE = ".derive-cache.json"
SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Job:
    spec: str
    lang: str
    fmt: str
    target: str
    document: str
    figures: bool
    verification_note: bool = True


@dataclass
class Outcome:
    job: Job
    error: str | None = None
    exit_code: int = 0


def _build(sources, langs, formats, out: Path, document: str, figures: bool, jobs, force: bool,
           note: bool = True) -> None:
    import sys

    from derive.errors import DeriveError
    from derive.core.safetext import message, terminal

    from derive.pipeline import check_document

    specs = collect(sources)
    languages, fmts = _languages(langs), _formats(formats)
    check_document(document, fmts)
    if "pdf" in fmts:
        from derive.render.pdf import require_latex

        require_latex()
    todo = [Job(str(s), lang, fmt, str(_target(out, s, lang, fmt, document)), document, figures, note)
            for s in specs for lang in languages for fmt in fmts]
    _refuse_clashes(todo)
    cache = _load_cache(out)
    hashes, failed = {}, []
    for job in todo:
        try:
            hashes[job] = job_hash(job)
        except DeriveError as exc:
            failed.append(Outcome(job, exc.show(), exc.exit_code))
    broken = {f.job for f in failed}
    stale = [j for j in todo if j not in broken and (force or not _fresh(j, hashes[j], cache, out))]
    started = time.monotonic()
    results = _run_all(_longest_first(stale), jobs)
    for result in results:
        if result.error is None:
            cache[_key(result.job, out)] = hashes[result.job]
        else:
            failed.append(result)
    cache_error = _save_cache(out, cache)
    built = len(stale) - sum(1 for r in results if r.error is not None)
    up_to_date = len(todo) - len(stale) - len(broken)
    place = {job: i for i, job in enumerate(todo)}
    for f in sorted(failed, key=lambda f: place[f.job]):  # in the order of the specs, as they were given
        click.echo(f"derive build: {terminal(f.job.target)}: {message(f.error)}", err=True)
    if cache_error:
        click.echo(f"derive build: the up-to-date record was not saved: {message(cache_error)}", err=True)
    click.echo(f"derive build: {built} built, {up_to_date} up to date, {len(failed)} failed "
               f"({len(todo)} outputs, {time.monotonic() - started:.1f} s)", err=True)
    if failed:
        sys.exit(max(f.exit_code for f in failed))


# -- what to build -------------------------------------------------------------------------


def collect(sources) -> list[Path]:
    """The spec files named or inside the folders named (sorted, each once)."""
    from derive.errors import Location, SpecError

    found: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file()
                            and _inside(p, path) and _is_spec(p))
        elif path.is_file():
            found.append(path)
        else:
            raise SpecError("no such file or folder; expected spec files (.yaml) or folders of them",
                            Location(str(path)))
    if not found:
        raise SpecError("no spec files (.yaml, .yml) found", Location(", ".join(sources)))
    return list(dict.fromkeys(found))


def _inside(path: Path, folder: Path) -> bool:
    """Whether a file found in folder really is there: a link leading out of it is skipped (and said)."""
    if path.resolve().is_relative_to(folder.resolve()):
        return True
    from derive.core.safetext import terminal

    click.echo(f"derive build: skipping {terminal(str(path))}: it links to a file outside {terminal(str(folder))}",
               err=True)
    return False


def _is_spec(path: Path) -> bool:
    """Whether a YAML file found in a folder is a spec: answer sheets (`answers:`, for derive check)
    are not; a file that does not load counts as a spec, so that its error is reported."""
    from derive.errors import DeriveError
    from derive.core.yamlload import load_file

    try:
        data = load_file(path).data
    except DeriveError:
        return True
    return not (isinstance(data, dict) and "answers" in data and "kind" not in data)


def _languages(text: str) -> list[str]:
    from derive.core.languages import languages

    return _chosen("--lang", "language", text, languages(), everything="all")


def _formats(text: str) -> list[str]:
    return _chosen("--format", "format", text, FORMATS)


def _chosen(option: str, what: str, text: str, known, everything: str | None = None) -> list[str]:
    """A comma-separated choice among known (in the given order, once each), or all of them for `everything`."""
    from derive.errors import SpecError

    if everything and text.strip() == everything:
        return list(known)
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in known]
    if unknown or not chosen:
        from derive.core.yamlload import closest

        expected = f"'{everything}' or some of" if everything else "some of"
        meant = [s if s in known else closest(s, list(known)) for s in chosen]
        hint = f"; did you mean {option} {','.join(meant)}?" if chosen and all(meant) else ""
        raise SpecError(f"{option}: unknown {what} {', '.join(unknown) or text!r}; expected {expected}: "
                        f"{', '.join(known)}{hint}")
    return list(dict.fromkeys(chosen))


def _refuse_clashes(jobs: list[Job]) -> None:
    """Two specs with the same name (week1/intro.yaml, week2/intro.yaml) would write one output in turn."""
    from derive.errors import Location, SpecError

    first: dict[str, str] = {}
    for job in jobs:
        other = first.setdefault(job.target, job.spec)
        if other != job.spec:
            raise SpecError(f"{other} and {job.spec} would both be written to {job.target}; rename one of them "
                            f"or build them into different --out folders", Location(job.spec))


def _target(out: Path, spec: Path, lang: str, fmt: str, document: str) -> Path:
    slides = ".slides" if document == "slides" and fmt in ("tex", "pdf") else ""
    return out / lang / f"{spec.stem}{slides}.{fmt}"


# -- up to date? ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def tool_hash() -> str:
    """derive's version, its source and its templates/catalogs: what every output depends on."""
    from derive.meta import __version__
    from derive.render.i18n import templates_root

    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    files = sorted(package.rglob("*.py")) + sorted(p for p in Path(str(templates_root())).rglob("*") if p.is_file())
    for path in files:
        if "__pycache__" in path.parts:
            continue
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def inputs_of(spec: Path) -> list[Path]:
    """The spec and the files it reads (a kind may say which with `inputs(doc)`: a course's chapters)."""
    from derive.pipeline import entry_of
    from derive.core.yamlload import load_file

    doc = load_file(spec)
    return [spec, *entry_of(doc).inputs_of(doc)]


def job_hash(job: Job) -> str:
    digest = hashlib.sha256(tool_hash().encode())
    digest.update(json.dumps([job.lang, job.fmt, job.document, job.figures, job.verification_note]).encode())
    from derive.core.yamlload import MAX_BYTES, read_limited

    for path in inputs_of(Path(job.spec)):
        digest.update(str(path).encode())
        digest.update(read_limited(path, MAX_BYTES))
    return digest.hexdigest()


def _longest_first(jobs: list[Job]) -> list[Job]:
    """The jobs with the specs that take longest first (a course book: a lecture per chapter, and two LaTeX
    passes for its contents), so that no worker starts the longest one while the others are finishing
    (the jobs of a spec stay together and in order: a worker derives the spec once for all of them)."""
    from derive.errors import DeriveError

    def inputs(spec: str) -> int:
        try:
            return len(inputs_of(Path(spec)))
        except DeriveError:
            return 0

    weight = {spec: inputs(spec) for spec in dict.fromkeys(j.spec for j in jobs)}
    order = {spec: i for i, spec in enumerate(weight)}
    return sorted(jobs, key=lambda j: (-weight[j.spec], order[j.spec]))


KEPT_LATEX = ".derive-latex"
PRELOADED = "_formats"  # <out>/.derive-latex/_formats: the preambles preloaded (derive/render/pdf.py), for all


def _kept_latex(target: Path) -> Path:
    """Where an output's LaTeX .aux and .toc are kept between builds: <out>/.derive-latex/<lang>/<name>/, so
    that a rebuilt course book whose contents did not move takes one LaTeX pass instead of two."""
    return target.parent.parent / KEPT_LATEX / target.parent.name / target.stem


def _key(job: Job, out: Path) -> str:
    return os.path.relpath(job.target, out)


def _fresh(job: Job, digest: str, cache: dict, out: Path) -> bool:
    return Path(job.target).is_file() and cache.get(_key(job, out)) == digest


def _load_cache(out: Path) -> dict:
    try:
        data = json.loads((out / CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(out: Path, cache: dict) -> str | None:
    """Save the cache; a failure (a read-only folder) is returned as a message: the build still reports."""
    from derive.errors import DeriveError
    from derive.core.safewrite import write_file

    try:
        write_file(out / CACHE, json.dumps(cache, indent=1, sort_keys=True), make_folder=True)
    except DeriveError as exc:
        return exc.show()
    return None


# -- running --------------------------------------------------------------------------------


def _run_all(jobs: list[Job], workers: int | None) -> list[Outcome]:
    """Run the jobs in bounded child processes (derive.bounded), with a progress bar on stderr.

    The jobs of one spec and language share a child (the spec is derived once
    there); each job has its own CPU-time budget, and a job that exceeds it is
    that job's error: the others are still built.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from derive.core.bounded import map_bounded

    if not jobs:
        return []
    _preload((job.lang for job in jobs), pdf=any(job.fmt == "pdf" for job in jobs))
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # no refresh thread: the workers are forked, and a fork must not catch a thread holding stderr's lock
    with Progress(*columns, console=Console(stderr=True), transient=False, auto_refresh=False) as progress:
        task = progress.add_task("derive build", total=len(jobs))

        def done() -> None:
            progress.advance(task)
            progress.refresh()

        outcomes = map_bounded(run_job, jobs, workers, groups=lambda job: job.spec, done=done)
    return [o.value if o.error is None else Outcome(job, o.error, o.exit_code) for job, o in zip(jobs, outcomes)]


def _preload(languages=(), pdf: bool = False) -> None:
    """Import and read, once in the parent, what every worker needs: the workers are forked, so each starts
    with it instead of doing it again (about 0.5 s of CPU per spec). That is SymPy, Jinja and the renderers;
    the SymPy modules SymPy itself imports on first use (sympy.physics.units in `simplify`, sympy.tensor
    in the first sum: 0.1 s); the catalogs of the languages built (0.02 s each); for PDFs, the LuaLaTeX
    version and stock format the preloaded preambles are keyed by (two commands, 0.05 s). NumPy is left
    to the workers: its BLAS threads must not be forked."""
    import importlib

    from derive.core.startup import imports_paused
    from derive.render.i18n import translations

    with imports_paused():  # what the parent holds is frozen: the workers' garbage collector leaves it alone
        for name in ("sympy", "jinja2", "derive.render.printing", "derive.render.jinja", "derive.render.document",
                     "derive.render.tex", "sympy.physics.units", "sympy.tensor.tensor"):
            importlib.import_module(name)
        for lang in sorted(set(languages)):
            translations(lang)
    if pdf:
        from derive.render.pdf import engine_identity

        engine_identity()


@lru_cache(maxsize=8)
def _derived(spec: str, document: str, figures: bool):
    """A worker derives each spec once for all its languages and formats."""
    from derive.pipeline import Options, derive_spec

    return derive_spec(spec, Options(document=document, figures=figures))


def run_job(job: Job) -> Outcome:
    """Build one output; a DeriveError (or any bug) becomes the job's error, never a crash of the build."""
    from derive.errors import DeriveError

    try:
        _build_one(job)
    except DeriveError as exc:
        return Outcome(job, exc.show(), exc.exit_code)
    except Exception as exc:  # a bug in derive: report it with the job, keep building the rest
        return Outcome(job, f"internal error: {type(exc).__name__}: {exc}", 1)
    return Outcome(job)


def _build_one(job: Job) -> None:
    from derive.render import document
    from derive.core.safewrite import write_file
    from derive.pipeline import Options, render

    options = Options(document=job.document, figures=job.figures, output=job.target,
                      verification_note=job.verification_note)
    result = _derived(job.spec, job.document, job.figures)
    target = Path(job.target)
    if job.fmt == "pdf":
        document.write_pdf(result, job.lang, options, target, keep=_kept_latex(target),
                           formats=target.parent.parent / KEPT_LATEX / PRELOADED)
        return
    if job.fmt == "md":
        text = document.markdown_file(result, job.lang, options)
    elif job.fmt == "tex":
        text = document.latex(result, job.lang, options)
    else:
        text = render(result, job.fmt, job.lang, options)
    write_file(target, text, make_folder=True)
