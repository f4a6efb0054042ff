"""Reading records: JSON lines (:func:`iter_jsonl`, :func:`read_jsonl`), plain text lines (:func:`iter_text_lines`),
one JSON list (:func:`iter_json_list`), either by the first character (:func:`iter_records`), and ``datasets`` sources
(:mod:`langrl.hf_data`) as the same rows. See :mod:`langrl.jsonl` for the rules."""
from __future__ import annotations

import json
from typing import BinaryIO, Iterator

from langrl.errors import InputError
from langrl.jsonl.files import BOM, file_error, max_line_bytes, open_input, size_reason
from langrl.jsonl.values import Row, number_decoder, parsed_row


# ---------------------------------------------------------------------------------------------------- JSON lines
def _lines(f: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, bytes without the line end or None when over ``limit``, size) for every line."""
    n = 0
    while True:
        chunk = f.readline(limit + 2)  # limit bytes + "\r\n"
        if not chunk:
            return
        n += 1
        if n == 1 and chunk.startswith(BOM):
            chunk = chunk[len(BOM):]
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
    decoder, bad = number_decoder()
    for label, n, rec in iter_dataset_records(path, what, file_error):
        text = json.dumps(rec, ensure_ascii=False, default=str)
        size = len(text.encode("utf-8"))
        if size > limit:
            yield Row(label, n, None, reason=size_reason(size, limit, "record"), code="size")
            continue
        yield parsed_row(Row(label, n, text), decoder.decode(text), bad)


def _iter_jsonl_file(path, what: str) -> Iterator[Row]:
    name, limit = str(path), max_line_bytes()
    decoder, bad = number_decoder()
    with open_input(path, what) as f:
        for n, body, size in _lines(f, limit):
            if body is None:
                yield Row(name, n, None, reason=size_reason(size, limit), code="size")
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
            yield parsed_row(row, value, bad)


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
                raise InputError(size_reason(size, limit), path=str(path), line=n)
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
    if data.startswith(BOM):
        data = data[len(BOM):]
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
            chunk = chunk.removeprefix(BOM).lstrip(b" \t\r\n")
            if chunk:
                return chr(chunk[0]) if chunk[0] < 128 else "?"


def iter_json_list(path, what: str = "data file") -> Iterator[Row]:
    """Every element of a file holding one JSON list, with the line it starts on.

    Each element is held to the line-size limit and the number rules (a bad element is a :class:`Row` with
    ``reason``, so it can be skipped); a list that is itself broken cannot be read past and raises.
    """
    name, limit = str(path), max_line_bytes()
    text = _read_text(path, what)
    decoder, bad = number_decoder()
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
                row.raw, row.reason, row.code = None, size_reason(size, limit, "record"), "size"
                yield row
            else:
                yield parsed_row(row, value, bad)
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
