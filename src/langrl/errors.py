"""User-facing errors.

Every mistake a user can make (a missing file, a bad JSONL line, an unknown model spec, an unknown config key) is raised
as :class:`InputError` with one clear line naming *where* (``path:line: field 'x'``) and *what was expected*. The CLI
prints that line and exits with code 2, without a traceback unless ``--debug`` is given.
"""
from __future__ import annotations


class InputError(Exception):
    """Bad user input. ``str(err)`` is the one line the CLI prints."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        if field is not None:
            where += f"field '{field}': "
        super().__init__(where + message)
        self.path, self.line, self.field = path, line, field


def expect(cond: bool, message: str, **where) -> None:
    """Raise :class:`InputError` with ``message`` (and ``path``/``line``/``field``) unless ``cond`` holds."""
    if not cond:
        raise InputError(message, **where)
