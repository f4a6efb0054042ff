"""``langrl model build|info SPEC``: build (tiny), convert (.gguf, smollm2) or inspect a model spec."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from langrl.config import arg, parse_config

USAGE = """usage: langrl model build|info [SPEC] [--json]

  build SPEC   build the tiny model, or convert a .gguf / smollm2 to a cached safetensors directory; print its path
  info SPEC    parameters, vocabulary, context length and directory of a model spec
SPEC: tiny (default), tiny:TASK, smollm2, minilm, a model directory, a .gguf file, or a hub id in the local cache."""


@dataclass
class ModelConfig:
    spec: str = arg("tiny", "model spec (may also be given as the first positional argument)")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in ("build", "info"):
        print(USAGE)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    action, rest = argv[0], argv[1:]
    if rest and not rest[0].startswith("--"):
        rest = ["--spec", rest[0], *rest[1:]]
    cfg, flags = parse_config(ModelConfig, rest, prog=f"langrl model {action}")
    from langrl.models.specs import resolve_model_dir

    t0 = time.time()
    path = resolve_model_dir(cfg.spec, quiet=flags["json"])
    out = {"spec": cfg.spec, "path": str(path), "seconds": round(time.time() - t0, 2)}
    if action == "info":
        from transformers import AutoConfig, AutoTokenizer

        conf = AutoConfig.from_pretrained(path)
        tok = AutoTokenizer.from_pretrained(path)
        import math

        from safetensors import safe_open

        n = 0
        for f in path.glob("*.safetensors"):
            with safe_open(str(f), "pt") as st:
                n += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())
        out.update({"architecture": (conf.architectures or ["?"])[0], "parameters": n, "vocab": len(tok),
                    "context": getattr(conf, "max_position_embeddings", None)})
    if flags["json"]:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>13}: {v}")
    return 0

