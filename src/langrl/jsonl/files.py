"""Opening an input file: only a regular file, read as bytes, with the line-size limit and the ``--flag`` named in a
file-level error (:func:`input_flag`). See :mod:`langrl.jsonl` for the rules."""
from __future__ import annotations

import contextlib
import contextvars
import os
import stat
from typing import BinaryIO

from langrl.errors import InputError

MAX_LINE_BYTES = 1 << 20  # 1 MiB per line / per JSON-list record; LANGRL_MAX_LINE_BYTES overrides
LIMIT_ENV = "LANGRL_MAX_LINE_BYTES"
BOM = b"\xef\xbb\xbf"


def max_line_bytes() -> int:
    """The line-size limit in bytes: ``$LANGRL_MAX_LINE_BYTES`` if set, else :data:`MAX_LINE_BYTES`."""
    value = os.environ.get(LIMIT_ENV)
    if value is None or value == "":
        return MAX_LINE_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise InputError(f"expected a positive number of bytes, got {value!r}", field=LIMIT_ENV)
    return limit


def size_reason(size: int, limit: int, what: str = "line") -> str:
    return (f"expected a {what} of at most {limit} bytes, got {size} bytes "
            f"(set {LIMIT_ENV} to raise the limit)")


# ---------------------------------------------------------------------------------------------------- opening a file
_FLAG: contextvars.ContextVar[str | None] = contextvars.ContextVar("langrl_input_flag", default=None)


@contextlib.contextmanager
def input_flag(flag: str):
    """Name the command-line flag (``--data``) whose file is read inside the block: a missing file, a directory
    or a FIFO is then reported as ``--data: data file not found: PATH`` (the line-level ``path:line: field`` errors
    are exact already and stay as they are)."""
    token = _FLAG.set(flag)
    try:
        yield
    finally:
        _FLAG.reset(token)


def file_error(message: str, path: str | None = None) -> InputError:
    err = InputError(message, path=path)
    flag = _FLAG.get()
    if flag:
        err.args = (f"{flag}: {err}",)
    return err


def open_input(path, what: str = "data file") -> BinaryIO:
    """Open ``path`` for binary reading after checking it is a regular file (``what`` names it in errors).

    A missing path is ``"{what} not found: PATH (no such file)"`` (after ``--flag: `` inside :func:`input_flag`); a
    directory, FIFO, socket or device is refused without being opened for reading (the ``open`` is non-blocking and
    re-checked with ``fstat``).
    """
    name = str(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise file_error(f"{what} not found: {name} (no such file)") from None
    except OSError as e:
        raise file_error(f"cannot read the {what}: {e.strerror}", path=name) from None
    _check_regular(st.st_mode, name, what)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise file_error(f"cannot read the {what}: {e.strerror}", path=name) from None
    try:
        _check_regular(os.fstat(fd).st_mode, name, what)  # replaced between stat and open
    except InputError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_regular(mode: int, name: str, what: str) -> None:
    if stat.S_ISDIR(mode):
        raise file_error(f"is a directory (expected the {what}, a file)", path=name)
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise file_error(f"is not a regular file ({kind}; expected the {what}, a file)", path=name)
