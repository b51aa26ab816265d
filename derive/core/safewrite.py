"""Writing output files safely: complete or not at all, never through a planted link, never onto a device.

`write_file(path, data)` writes into an exclusive temporary file with an
unpredictable name in the target's folder (mkstemp: O_CREAT|O_EXCL, so a
symlink planted under a guessable name is never followed), then renames it
over the target. A target that exists and is not a regular file (a FIFO, a
device such as /dev/null, a folder) is refused, as is a folder that does not
exist, unless `make_folder` (derive build makes its output tree). Every
problem is a `SpecError` (exit 2) naming the path: a read-only file system is
one clear line, not a traceback.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from derive.errors import Location, SpecError


def check_target(path: str | Path, make_folder: bool = False) -> Path:
    """The target as a Path once it is known to be writable as a regular file; a SpecError otherwise."""
    path = Path(path)
    folder = path.parent
    if make_folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpecError(f"cannot create the folder {folder}: {exc.strerror}", Location(str(path))) from None
    if not folder.is_dir():
        raise SpecError(f"the folder {folder} does not exist; create it first or choose another output path",
                        Location(str(path)))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise SpecError(f"cannot write the file: {exc.strerror}", Location(str(path))) from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError("not a regular file (a folder, device, FIFO or socket); derive writes only regular files",
                        Location(str(path)))
    return path


def write_file(path: str | Path, data: str | bytes, make_folder: bool = False) -> Path:
    """Write data (text as UTF-8) to path atomically and safely; returns the path."""
    path = check_target(path, make_folder)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise SpecError(f"cannot write the file: {exc.strerror}", Location(str(path))) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(partial, 0o666 & ~_umask())
        os.replace(partial, path)
    except OSError as exc:
        _remove(partial)
        raise SpecError(f"cannot write the file: {exc.strerror}", Location(str(path))) from None
    except BaseException:
        _remove(partial)
        raise
    return path


def copy_file(source: str | Path, path: str | Path, make_folder: bool = False) -> Path:
    """Copy a finished file (a compiled PDF) to path, as write_file does."""
    return write_file(path, Path(source).read_bytes(), make_folder)


def _remove(partial: str) -> None:
    try:
        os.unlink(partial)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
