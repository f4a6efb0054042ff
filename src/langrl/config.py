"""Typed configs: one dataclass per command, a one-line doc per field, YAML files and ``--key value`` overrides.

A command declares its config as a dataclass whose fields are made with :func:`arg` (default + one-line doc)::

    @dataclass
    class SFTConfig:
        model: str = arg("tiny", "model spec: tiny, tiny:TASK, a HF dir or id, a .gguf file, smollm2")
        max_steps: int = arg(200, "optimizer steps")

and parses it with :func:`parse_config` (``--config file.yaml`` first, then ``--kebab-case`` flags on top). Unknown keys
are an :class:`~langrl.errors.InputError` listing the valid ones; ``--help`` prints every field with its doc and default.
After parsing, the config's ``validate()`` (if it has one) refuses bad combinations with a clear error: the user's values
are never silently changed. Configs are unpacked at the edge: components take flat keyword arguments.

One flag vocabulary (:mod:`langrl.config_names`): a concept has one name in every command (``--model`` for the model
a command starts from, whether the field is ``model``, ``policy`` or ``base``), the commands' own other spellings are
kept as aliases, and the spellings TRL / ``transformers.TrainingArguments`` users type from habit
(``--model_name_or_path``, ``--num_generations``, ``--per_device_train_batch_size``, ...) are accepted with a note
naming the langrl flag. ``--help`` groups the options by section (model, data, sampling, ...), most used first.
A field may also carry ``aliases=`` and ``group=`` in :func:`arg`.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from langrl.errors import InputError

T = TypeVar("T")
_MISSING = dataclasses.MISSING


def arg(default: Any, doc: str, *, choices: tuple | None = None, aliases: tuple[str, ...] = (),
        group: str | None = None) -> Any:
    """A config field with a default and a one-line doc (shown by ``--help``). Lists get a fresh copy per instance.
    ``aliases``: other accepted names (flags and YAML keys); ``group``: its ``--help`` section (default: by name,
    :data:`langrl.config_names.GROUPS`)."""
    meta = {"doc": doc, "choices": choices, "aliases": tuple(aliases), "group": group}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for ``X | None`` / ``Optional[X]``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML or command-line value to the field's type, or raise a clear InputError."""
    base, optional = _base_type(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise InputError(f"{where}: expected a {getattr(base, '__name__', base)}, got nothing")
    if typing.get_origin(base) is list:
        (item_tp,) = typing.get_args(base) or (str,)
        items = value if isinstance(value, list) else [value]
        return [_convert(v, item_tp, where) for v in items]
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise InputError(f"{where}: expected true or false, got {value!r}")
    if base in (int, float, str):
        if base is str and not isinstance(value, (list, dict)):
            return str(value)
        try:
            if base is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            if base is int and isinstance(value, str) and "e" in value.lower():
                value = float(value)
            return base(value)
        except (TypeError, ValueError):
            raise InputError(f"{where}: expected {base.__name__}, got {value!r}") from None
    return value


def _fields(cls) -> dict[str, dataclasses.Field]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        f.type = hints[f.name]
        out[f.name] = f
    return out


def _unknown(key: str, valid: list[str], where: str, flag: bool = False, accepted: list[str] | None = None) -> InputError:
    """An unknown key: the nearest accepted name (aliases included) as a did-you-mean, and the valid keys."""
    shown = [("--" + v.replace("_", "-")) if flag else v for v in valid]
    pool = [("--" + v.replace("_", "-")) if flag else v for v in (accepted or valid)]
    near = difflib.get_close_matches(key.replace("_", "-") if flag else key, pool, n=1) or \
        difflib.get_close_matches(key, pool, n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return InputError(f"{where}: unknown key {key!r}{hint}; valid keys: {', '.join(shown)}")


def _names(cls):
    from langrl.config_names import name_table

    return name_table(_fields(cls))


def load_yaml(path: str) -> dict:
    """Read a YAML mapping, with errors that name the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise InputError(f"invalid YAML: {getattr(e, 'problem', e)}", path=path, line=line) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping of config keys to values", path=path)
    return data


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build ``cls`` from a mapping (YAML keys may use - or _); unknown keys are an error listing the valid ones."""
    fields = _fields(cls)
    table = _names(cls)
    kwargs = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in table:
            raise _unknown(str(key), table.shown(), where, accepted=table.accepted())
        name = table.field(name)
        kwargs[name] = _convert(value, fields[name].type, f"{where}: field '{name}'")
    cfg = cls(**kwargs)
    _check_choices(cfg, fields, where)
    return cfg


def _check_choices(cfg, fields, where):
    for name, f in fields.items():
        choices = f.metadata.get("choices")
        value = getattr(cfg, name)
        if choices and value is not None and value not in choices:
            raise InputError(f"{where}: field '{name}': expected one of {', '.join(map(str, choices))}, got {value!r}")


def help_text(cls, prog: str, summary: str = "") -> str:
    """Every field with its flag, type, default, doc and aliases, grouped by section (most used first)."""
    from langrl.config_names import grouped

    lines = [f"usage: {prog} [--config FILE.yaml] [--key value ...]", ""]
    if summary:
        lines += [summary, ""]
    lines.append("options (YAML keys are the same names with _; aliases in brackets):")
    fields = _fields(cls)
    table = _names(cls)
    for group, names in grouped(fields):
        lines.append(f"{group}:")
        for name in names:
            f = fields[name]
            default = f.default if f.default is not _MISSING else f.default_factory()  # type: ignore[misc]
            base, _ = _base_type(f.type)
            tname = getattr(base, "__name__", str(base))
            choices = f.metadata.get("choices")
            extra = f" {{{','.join(map(str, choices))}}}" if choices else ""
            flag = "--" + table.display(name).replace("_", "-")
            lines.append(f"  {flag:<28} {tname}{extra} (default: {default!r})")
            others = table.aliases_of(name)
            also = f" [also {', '.join(others)}]" if others else ""
            lines.append(f"      {f.metadata.get('doc', '')}{also}")
    lines += ["other:", "  --config FILE               YAML file of the keys above; flags override it",
              "  --split NAME                the split of a Hugging Face dataset input (default: train, or the only one)",
              "  --column NEW=OLD            rename a data column (repeat: --column prompt=question); any data source",
              "  --report-to NAME[,NAME]     trackers: none, csv, tensorboard, wandb (offline), trackio (local); "
              "metrics.csv is always written (default: tensorboard when installed)",
              "  --json                      print a machine-readable JSON summary at the end",
              "  --debug                     show Python tracebacks", "  -h, --help                  this help"]
    return "\n".join(lines)


def parse_config(cls: type[T], argv: list[str], prog: str = "langrl", summary: str = "") -> tuple[T, dict]:
    """Parse ``argv`` into ``cls``: ``--config FILE`` (YAML) first, then ``--key value`` flags override it.

    Returns ``(config, flags)`` where ``flags`` holds the common switches (``json``, ``debug``). A list field is given
    by repeating its flag (``--reward a --reward b``). Booleans accept ``--flag``, ``--no-flag`` or ``--flag false``.
    Prints help and exits 0 on ``-h``/``--help``.
    """
    fields = _fields(cls)
    table = _names(cls)
    flags = {"json": False, "debug": False}
    data: dict[str, Any] = {}
    cli: dict[str, Any] = {}
    # options of every command that are not config fields: data sources (langrl.hf_data), trackers (langrl.logging)
    data_opts: dict[str, Any] = {"split": None, "column": [], "report_to": []}
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in ("-h", "--help"):
            print(help_text(cls, prog, summary))
            raise SystemExit(0)
        if tok in ("--json", "--debug"):
            flags[tok[2:]] = True
            i += 1
            continue
        if not tok.startswith("--"):
            raise InputError(f"{prog}: unexpected argument {tok!r}; options are --key value (see --help)")
        key, eq, inline = tok[2:].partition("=")
        name = key.replace("-", "_")
        if name == "config":
            value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else None)
            if value is None:
                raise InputError(f"{prog}: --config needs a file")
            for k, v in load_yaml(value).items():
                k = str(k).replace("-", "_")
                if k in data_opts and k not in table:
                    data_opts[k] = v if k == "split" else [str(x) for x in (v if isinstance(v, list) else [v])]
                    continue
                if k not in table:
                    raise _unknown(k, table.shown(), f"{value}", accepted=table.accepted())
                data[table.field(k)] = v
            i += 1 if eq else 2
            continue
        if name in data_opts and name not in table:
            value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else None)
            if value is None:
                raise InputError(f"{prog}: {tok} needs a value")
            if name == "split":
                data_opts["split"] = value
            else:
                data_opts[name].append(value)
            i += 1 if eq else 2
            continue
        negated = (name.startswith("no_") and name not in table and name[3:] in table
                   and _base_type(fields[table.field(name[3:])].type)[0] is bool)
        if name not in table and not negated:
            raise _unknown(tok.split("=")[0], table.shown(), prog, flag=True, accepted=table.accepted())
        if negated:
            cli[table.field(name[3:])] = False
            i += 1
            continue
        table.note_alias(name, prog)
        name = table.field(name)
        base, _ = _base_type(fields[name].type)
        if eq:
            value, step = inline, 1
        elif base is bool and (i + 1 >= len(argv) or argv[i + 1].startswith("--")):
            value, step = True, 1
        elif i + 1 < len(argv):
            value, step = argv[i + 1], 2
        else:
            raise InputError(f"{prog}: {tok} needs a value")
        if typing.get_origin(base) is list:
            cli.setdefault(name, []).append(value)
        else:
            cli[name] = value
        i += step
    from langrl.hf_data import parse_columns, use_data_options
    from langrl.logging import parse_report_to, use_report_to

    use_data_options(None if data_opts["split"] is None else str(data_opts["split"]),
                     parse_columns(data_opts["column"]))
    use_report_to(parse_report_to(data_opts["report_to"]) if data_opts["report_to"] else None)
    flags.update(split=data_opts["split"], column=data_opts["column"], report_to=data_opts["report_to"])
    merged = {**data, **cli}
    cfg = from_dict(cls, merged, where=prog)
    validate = getattr(cfg, "validate", None)
    if validate is not None:
        validate()
    return cfg, flags


def to_dict(cfg) -> dict:
    """The config as a plain mapping (for saving next to outputs)."""
    return dataclasses.asdict(cfg)
