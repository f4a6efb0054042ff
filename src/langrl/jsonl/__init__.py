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

Modules: :mod:`~langrl.jsonl.files` (opening: the regular-file check, the size limit, ``--flag`` in errors),
:mod:`~langrl.jsonl.values` (:class:`Row`, the number rules, field validators), :mod:`~langrl.jsonl.read` (the
readers); every name is imported from here.
"""
from langrl.jsonl.files import LIMIT_ENV, MAX_LINE_BYTES, file_error, input_flag, max_line_bytes, open_input
from langrl.jsonl.read import first_char, iter_json_list, iter_jsonl, iter_records, iter_text_lines, read_jsonl
from langrl.jsonl.values import MAX_INT_DIGITS, Row, check_references, text_field

__all__ = ["LIMIT_ENV", "MAX_INT_DIGITS", "MAX_LINE_BYTES", "Row", "check_references", "file_error", "first_char",
           "input_flag", "iter_json_list", "iter_jsonl", "iter_records", "iter_text_lines", "max_line_bytes",
           "open_input", "read_jsonl", "text_field"]
