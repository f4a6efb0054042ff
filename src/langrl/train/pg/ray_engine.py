"""``langrl rl --ray``: the rollout engine as a Ray actor, apart from the (torchrun) learner processes.

Only imported with ``--ray`` (the ``langrl[ray]`` extra). Each learner process starts one actor that holds a rollout
engine (``--rollout-engine native|vllm``) and gives it ``--ray-num-gpus`` GPUs (and ``--ray-num-cpus`` CPUs); the
learner keeps the trainer. Everything the actor needs travels through Ray's object store — the model's config and
tokenizer files at start-up, the policy's weights after every update (``sync``: one ``ray.put`` of the state dict,
then the actor copies it in place; sharded FSDP parameters are gathered first), the rollouts back — so the actor may
sit on another node with no shared file system. The engine's contract is the in-process one
(:mod:`langrl.train.pg.engines`): the same sampler with the same seeds and weights gives the same rollouts, so with
``--rollout-engine native`` a Ray run equals the in-process run (tested on one machine: one actor, one learner).

Multi-node: ``ray start --head`` on the rollout node, ``ray start --address HEAD:6379`` on the others, then launch
the learners as usual with ``--ray --ray-address auto`` (``torchrun ... -m langrl.cli rl --ray ...``).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from langrl.errors import InputError


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


class RolloutWorker:
    """The actor's body (decorated with ``ray.remote`` at start-up): a rollout engine built from model files."""

    def __init__(self, engine: str, files: dict[str, bytes], options: dict, threads: int = 1):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from langrl.train.pg.engines import make_engine

        torch.set_num_threads(threads)
        self.dir = tempfile.mkdtemp(prefix="langrl-ray-")
        for name, data in files.items():
            (Path(self.dir) / name).write_bytes(data)
        model = AutoModelForCausalLM.from_pretrained(self.dir, dtype=torch.float32).eval().requires_grad_(False)
        tok = AutoTokenizer.from_pretrained(self.dir)
        self.model = model
        self.engine = make_engine(engine, model, tok, copy_weights=False, prog="rl --ray", **options)

    def load_weights(self, weights: dict[str, torch.Tensor]) -> bool:
        if hasattr(self.engine, "push"):  # vLLM: reload_weights with these tensors
            self.engine.push(weights)
        else:
            with torch.no_grad():
                for name, p in self.model.named_parameters():
                    p.copy_(weights[name])
        return True

    def generate(self, rows, chunks, chunk_prompts, kwargs):
        return self.engine.generate(rows, chunks, chunk_prompts, **kwargs)

    def close(self) -> bool:
        import shutil

        self.engine.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return True


class RayEngine:
    """The learner's handle on a :class:`RolloutWorker` actor; the engine interface (``sync``/``generate``/``close``)."""

    name = "ray"

    def __init__(self, inner: str, policy, tokenizer, *, address: str | None = None, num_gpus: float = 0.0,
                 num_cpus: float = 1.0, prog: str = "rl", mask=None, **options):
        if mask is not None:
            raise InputError(f"{prog}: --ray cannot run NLPO's masking policy in the rollout actor: use --algo ppo or "
                             f"run without --ray")
        try:
            import ray
        except ImportError as e:
            raise InputError(f"{prog}: --ray needs Ray, which is not installed ({e}); pip install 'langrl[ray]'")
        from langrl.train.checkpoint import save_pretrained_merged

        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True)
        with tempfile.TemporaryDirectory() as tmp:
            save_pretrained_merged(policy, Path(tmp))  # architecture + starting weights
            tokenizer.save_pretrained(tmp)
            files = _files(Path(tmp))
        from langrl.rollout.vllm_engine import rank0_files

        files = rank0_files(files)  # under torchrun transformers writes the model on rank 0 only
        actor = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(RolloutWorker)
        self.actor = actor.remote(inner, files, {k: v for k, v in options.items() if k != "copy_weights"})

    def sync(self, policy) -> None:
        from langrl.train.fsdp import full

        base = policy.get_base_model() if hasattr(policy, "peft_config") else policy
        if hasattr(policy, "peft_config"):
            import copy

            base = copy.deepcopy(policy).merge_and_unload()
        weights = {name: full(p.detach()).cpu() for name, p in base.named_parameters()}
        self.ray.get(self.actor.load_weights.remote(self.ray.put(weights)))

    def generate(self, rows, chunks, chunk_prompts, **kwargs):
        return self.ray.get(self.actor.generate.remote(rows, chunks, chunk_prompts, kwargs))

    def close(self) -> None:
        try:
            self.ray.get(self.actor.close.remote())
            self.ray.kill(self.actor)
        finally:
            if self.started:
                self.ray.shutdown()
