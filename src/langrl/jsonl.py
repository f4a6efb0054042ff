"""The one reader of JSON-lines (and JSON-list) input files, shared by every command.

Every file a command reads goes through here, so each rule holds everywhere and a malformed case is fixed once:

* the path must be a regular file: a directory, FIFO, socket or device is refused after a ``stat``, before it is
  opened (a FIFO is never opened for reading, so it cannot block);
* the text is UTF-8; a leading byte-order mark is accepted and dropped; bytes that are not UTF-8 are an error at their
  line;
* lines end at ``\\n`` only (``\\r\\n`` too); U+2028, U+2029, form feeds and other Unicode line breaks inside a line are
  ordinary characters (JSON allows them raw inside strings), never line ends;
* a line (a record of a JSON list) holds at most :data:`MAX_LINE_BYTES` bytes (1 MiB; the environment variable
  ``LANGRL_MAX_LINE_BYTES`` changes it), checked while reading, before parsing;
* numbers are finite: ``NaN``, ``Infinity``, ``-Infinity``, a float that overflows (``1e999``) and an integer of more
  than :data:`MAX_INT_DIGITS` digits (it would overflow a float) are errors naming the field.

Errors are :class:`~langrl.errors.InputError` as ``path:line: field 'x': expected ...``. The iterators yield a
:class:`Row` per non-blank record, bad ones included (``row.reason`` set), so a reader that skips bad records
(``--on-error skip``) and one that stops at the first share the checks. Only the standard library is imported.

A Hugging Face ``datasets`` source (a ``save_to_disk`` directory, a parquet/CSV/arrow file, a cached hub dataset:
:mod:`langrl.hf_data`) is read through the same iterators, one :class:`Row` per record numbered from 1, so its
records meet the same validators and errors; ``--column NEW=OLD`` renames apply to every source.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from langrl.errors import InputError

MAX_LINE_BYTES = 1 << 20  # 1 MiB per line / per JSON-list record; LANGRL_MAX_LINE_BYTES overrides
MAX_INT_DIGITS = 300      # float(10**300) is finite; a 309-digit integer overflows a float
LIMIT_ENV = "LANGRL_MAX_LINE_BYTES"
_BOM = b"\xef\xbb\xbf"


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


@dataclass
class Row:
    """One non-blank record of a file: where it starts, its text, and its value or what is wrong with it.

    ``raw`` is the record's text on one line (``None`` for a line over the size limit, which is not kept);
    ``value`` the parsed JSON (``None`` when bad); ``field``/``reason`` say what is wrong (``reason`` is ``None`` for a
    good row); ``code`` is one of ``"json"``, ``"utf8"``, ``"size"``, ``"number"`` for a bad row.
    """

    path: str
    line: int
    raw: str | None
    value: object = None
    reason: str | None = None
    field: str | None = None
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def error(self) -> InputError:
        """The row's problem as ``path:line: field 'x': reason``."""
        return InputError(self.reason or "", path=self.path, line=self.line, field=self.field)


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


# ---------------------------------------------------------------------------------------------------- numbers
class _BadNumber:
    """Stands in for a number json.loads must not return; the walk below finds its field."""

    def __init__(self, reason: str):
        self.reason = reason


def _decoder() -> tuple[json.JSONDecoder, list]:
    bad: list[_BadNumber] = []

    def flag(reason: str) -> _BadNumber:
        b = _BadNumber(reason)
        bad.append(b)
        return b

    def parse_int(text: str):
        digits = len(text) - (text[0] == "-")
        if digits > MAX_INT_DIGITS:
            return flag(f"expected an integer of at most {MAX_INT_DIGITS} digits, got {digits} digits")
        return int(text)

    def parse_float(text: str):
        value = float(text)
        if not math.isfinite(value):
            shown = text if len(text) <= 30 else text[:27] + "..."
            return flag(f"expected a finite number, got {shown} (it overflows a float)")
        return value

    def parse_constant(name: str):
        return flag(f"expected a finite number, got {name}")

    return json.JSONDecoder(parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant), bad


def _find(value, target, where: str = "") -> str | None:
    """The field path (``a.b[2]``) of ``target`` inside ``value``; ``""`` when ``value`` is it."""
    if value is target:
        return where
    if isinstance(value, dict):
        for k, v in value.items():
            found = _find(v, target, f"{where}.{k}" if where else str(k))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _find(v, target, f"{where}[{i}]")
            if found is not None:
                return found
    return None


def _parsed(row: Row, value, bad: list) -> Row:
    if bad:
        field = _find(value, bad[0])
        row.reason, row.field, row.code = bad[0].reason, field or None, "number"
        bad.clear()
    else:
        row.value = value
    return row


def _size_reason(size: int, limit: int, what: str = "line") -> str:
    return (f"expected a {what} of at most {limit} bytes, got {size} bytes "
            f"(set {LIMIT_ENV} to raise the limit)")


# ---------------------------------------------------------------------------------------------------- JSON lines
def _lines(f: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, bytes without the line end or None when over ``limit``, size) for every line."""
    n = 0
    while True:
        chunk = f.readline(limit + 2)  # limit bytes + "\r\n"
        if not chunk:
            return
        n += 1
        if n == 1 and chunk.startswith(_BOM):
            chunk = chunk[len(_BOM):]
        complete = chunk.endswith(b"\n")
        body = chunk[:-1] if complete else chunk
        size = len(body)
        while not complete and size > limit:  # read on to the end of an over-long line, keeping nothing
            more = f.readline(1 << 20)
            if not more:
                break
            complete = more.endswith(b"\n")
            size += len(more) - complete
        if body.endswith(b"\r") and size <= limit + 1:
            body, size = body[:-1], size - 1
        yield n, (body if size <= limit else None), size


def _renamed(rows: Iterator[Row]) -> Iterator[Row]:
    """Apply the command's ``--column NEW=OLD`` renames (:func:`langrl.hf_data.data_options`) to each good record."""
    from langrl.hf_data import data_options, rename_columns

    mapping = data_options().columns
    for row in rows:
        if mapping and row.ok:
            row.value = rename_columns(row.value, mapping)
        yield row


def iter_jsonl(path, what: str = "data file") -> Iterator[Row]:
    """Every non-blank line of a JSON-lines file as a :class:`Row` (bad lines too, with ``reason`` set); a
    ``datasets`` source gives one row per record (:mod:`langrl.hf_data`)."""
    from langrl.hf_data import is_dataset_source

    rows = _iter_dataset_rows(path, what) if is_dataset_source(path) else _iter_jsonl_file(path, what)
    return _renamed(rows)


def _iter_dataset_rows(path, what: str) -> Iterator[Row]:
    """A ``datasets`` source's records as rows: each converted to JSON text and parsed back with this reader's decoder,
    so the number rules and the size limit hold as for a file (NaN/Infinity are written as such, then refused)."""
    from langrl.hf_data import iter_dataset_records

    limit = max_line_bytes()
    decoder, bad = _decoder()
    for label, n, rec in iter_dataset_records(path, what, file_error):
        text = json.dumps(rec, ensure_ascii=False, default=str)
        size = len(text.encode("utf-8"))
        if size > limit:
            yield Row(label, n, None, reason=_size_reason(size, limit, "record"), code="size")
            continue
        yield _parsed(Row(label, n, text), decoder.decode(text), bad)


def _iter_jsonl_file(path, what: str) -> Iterator[Row]:
    name, limit = str(path), max_line_bytes()
    decoder, bad = _decoder()
    with open_input(path, what) as f:
        for n, body, size in _lines(f, limit):
            if body is None:
                yield Row(name, n, None, reason=_size_reason(size, limit), code="size")
                continue
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Row(name, n, body.decode("utf-8", errors="replace"), code="utf8",
                          reason=f"expected UTF-8 text, got the byte 0x{body[e.start]:02x} at byte {e.start + 1}")
                continue
            if not text.strip():
                continue
            row = Row(name, n, text)
            try:
                value = decoder.decode(text)
            except json.JSONDecodeError as e:
                row.reason, row.code = f"invalid JSON ({e.msg} at column {e.colno})", "json"
                yield row
                continue
            yield _parsed(row, value, bad)


def read_jsonl(path, what: str = "data file") -> list[tuple[int, dict]]:
    """(line number, record) for every non-blank line; the first bad line raises ``path:line: ...``.

    Every record must be a JSON object; a file with none is an error.
    """
    rows = []
    for row in iter_jsonl(path, what):
        if not row.ok:
            raise row.error()
        if not isinstance(row.value, dict):
            raise InputError("expected a JSON object per line", path=row.path, line=row.line)
        rows.append((row.line, row.value))
    if not rows:
        raise InputError(f"{path}: no records")
    return rows


def iter_text_lines(path, what: str = "text file") -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line of a plain UTF-8 text file, under the same rules."""
    limit = max_line_bytes()
    with open_input(path, what) as f:
        for n, body, size in _lines(f, limit):
            if body is None:
                raise InputError(_size_reason(size, limit), path=str(path), line=n)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"expected UTF-8 text, got the byte 0x{body[e.start]:02x} at byte {e.start + 1}",
                                 path=str(path), line=n) from None
            if text.strip():
                yield n, text


# ---------------------------------------------------------------------------------------------------- JSON lists
def _read_text(path, what: str) -> str:
    with open_input(path, what) as f:
        data = f.read()
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"expected UTF-8 text, got the byte 0x{data[e.start]:02x}", path=str(path),
                         line=line) from None


def first_char(path, what: str = "data file") -> str:
    """The first non-blank character of a file (``"["`` for a JSON list), after a BOM; ``""`` if there is none."""
    with open_input(path, what) as f:
        while True:
            chunk = f.read(4096)
            if not chunk:
                return ""
            chunk = chunk.removeprefix(_BOM).lstrip(b" \t\r\n")
            if chunk:
                return chr(chunk[0]) if chunk[0] < 128 else "?"


def iter_json_list(path, what: str = "data file") -> Iterator[Row]:
    """Every element of a file holding one JSON list, with the line it starts on.

    Each element is held to the line-size limit and the number rules (a bad element is a :class:`Row` with
    ``reason``, so it can be skipped); a list that is itself broken cannot be read past and raises.
    """
    name, limit = str(path), max_line_bytes()
    text = _read_text(path, what)
    decoder, bad = _decoder()
    pos, line, counted = text.index("[") + 1, 1, 0

    def skip(p: int) -> int:
        while p < len(text) and text[p] in " \t\r\n":
            p += 1
        return p

    def line_at(p: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, p)
        counted = p
        return line

    pos = skip(pos)
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            try:
                value, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON ({e.msg} at column {e.colno})", path=name, line=e.lineno) from None
            source = text[pos:end]
            row = Row(name, line_at(pos), source.replace("\r", " ").replace("\n", " "))  # raw newlines lie between tokens
            size = len(source.encode("utf-8"))
            if size > limit:
                bad.clear()
                row.raw, row.reason, row.code = None, _size_reason(size, limit, "record"), "size"
                yield row
            else:
                yield _parsed(row, value, bad)
            pos = skip(end)
            if pos < len(text) and text[pos] == ",":
                pos = skip(pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos += 1
                break
            raise InputError("invalid JSON (expected ',' or ']' in the list)", path=name, line=line_at(pos))
    if skip(pos) != len(text):
        raise InputError("invalid JSON (text after the closing ']')", path=name, line=line_at(skip(pos)))


def iter_records(path, what: str = "data file") -> Iterator[Row]:
    """The records of a JSON-lines file, of a JSON list when the file's first non-blank character is ``[``, or of a
    ``datasets`` source."""
    from langrl.hf_data import is_dataset_source

    if not is_dataset_source(path) and first_char(path, what) == "[":
        return _renamed(iter_json_list(path, what))
    return iter_jsonl(path, what)


# ---------------------------------------------------------------------------------------------------- fields
def text_field(rec: dict, key: str, path, line: int, *, empty_ok: bool = False) -> str:
    """``rec[key]`` if it is a string (non-blank unless ``empty_ok``), else ``path:line: field 'key': expected ...``."""
    value = rec.get(key)
    if not isinstance(value, str):
        got = type(value).__name__ if key in rec else "nothing"
        raise InputError(f"expected a string, got {got}", path=str(path), line=line, field=key)
    if not empty_ok and not value.strip():
        raise InputError("expected a non-empty string", path=str(path), line=line, field=key)
    return value


def check_references(rec: dict, path, line: int) -> None:
    """A ``reference`` column is a non-empty string or a non-empty list of them; ``references`` is such a list."""
    for key in ("reference", "references"):
        if key not in rec:
            continue
        value = rec[key]
        items = [value] if isinstance(value, str) and key == "reference" else value
        if not isinstance(items, list) or not items:
            raise InputError("expected a non-empty string or a non-empty list of strings", path=str(path), line=line,
                             field=key)
        for i, v in enumerate(items):
            where = key if isinstance(value, str) else f"{key}[{i}]"
            if not isinstance(v, str) or not v.strip():
                raise InputError(f"expected a non-empty string, got {json.dumps(v, ensure_ascii=False)[:40]}",
                                 path=str(path), line=line, field=where)
