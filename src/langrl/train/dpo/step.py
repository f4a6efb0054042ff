"""The offline trainer's tensor work: sequence log-probs of rows, the reference pass, one optimizer step, evaluation.

One forward pass per micro-batch scores every response of its units together (chosen and rejected, or the whole
ranked list, concatenated into one padded batch). Normalisation is per *unit* over the whole global batch: each
objective returns a mean over its micro-batch of b units, which is scaled by b / (units in the global batch) before
``backward``; gradients are then summed over micro-batches and data-parallel ranks. The pieces therefore add up to the
one-big-batch gradient exactly (up to float round-off), whatever the split.

KTO's reference point z0 is a statistic of the whole global batch (the mean mismatched-pair log-ratio, clamped at 0,
no gradient), so it is measured first, without gradients, over every rank's share, and then used by every micro-batch.
"""
from __future__ import annotations

import contextlib

import torch

from langrl import distributed as dist
from langrl.losses import kto_reference_point
from langrl.rollout.logprobs import response_logprobs
from langrl.train.dpo.data import OfflineData, Unit, collate_rows, gather_grid, unit_grid


def row_logps(model, data: OfflineData, row_ids: list[int], pad_id: int) -> torch.Tensor:
    """(r,) summed log π(y|x) of the rows, in one forward pass (gradients flow when enabled)."""
    batch = collate_rows(data, row_ids, pad_id)
    lp = response_logprobs(model, batch["prompt_ids"], batch["prompt_mask"], batch["response_ids"],
                           batch["response_mask"]).logprobs
    return lp.sum(-1)


@torch.no_grad()
def all_row_logps(model, data: OfflineData, row_ids: list[int], pad_id: int, batch_size: int) -> torch.Tensor:
    """(len(row_ids),) log-probs of many rows, batched by similar length (little padding), in eval mode."""
    was_training = model.training
    model.eval()
    out = torch.zeros(len(row_ids))
    order = sorted(range(len(row_ids)), key=lambda k: len(data.prompts[row_ids[k]]) + len(data.responses[row_ids[k]]))
    for s in range(0, len(order), batch_size):
        chunk = order[s:s + batch_size]
        out[chunk] = row_logps(model, data, [row_ids[k] for k in chunk], pad_id).float()
    model.train(was_training)
    return out


def sharded_row_logps(model, data: OfflineData, pad_id: int, batch_size: int) -> torch.Tensor:
    """(r,) log-probs of every row of ``data``: each data-parallel rank scores its share, then one all-reduce."""
    rank, world = dist.rank(), dist.world_size()
    mine = list(range(rank, len(data.prompts), world))
    out = torch.zeros(len(data.prompts))
    if mine:
        out[mine] = all_row_logps(model, data, mine, pad_id, batch_size)
    return dist.all_reduce_sum(out)


def _lengths(data: OfflineData, row_ids: list[int]) -> torch.Tensor:
    return torch.tensor([len(data.responses[i]) for i in row_ids], dtype=torch.float32)


def kto_z0(model, data: OfflineData, my_units: list[Unit], n_global: int, ref: torch.Tensor, pad_id: int,
           micro_rows: int, across_ranks: bool = True) -> torch.Tensor:
    """KTO reference point over the global batch: z0 = max(0, mean_i [log π(y'_i|x_i) − log π_ref(y'_i|x_i)]).

    ``my_units`` is this rank's share of ``n_global`` units (``across_ranks``), or all of them (``across_ranks=False``).
    """
    rows = [u.kl_row for u in my_units]
    sums = torch.zeros(2)
    if rows:
        with torch.no_grad():
            for s in range(0, len(rows), micro_rows):
                chunk = rows[s:s + micro_rows]
                sums[0] += row_logps(model, data, chunk, pad_id).float().sum()
                sums[1] += ref[chunk].sum()
    if across_ranks:
        dist.all_reduce_sum(sums)
    return kto_reference_point(sums[:1] / n_global, sums[1:] / n_global)  # mean over the global batch, clamped at 0


def unit_loss(model, data: OfflineData, units: list[Unit], ref: torch.Tensor, pad_id: int, objective,
              z0: torch.Tensor | float = 0.0) -> tuple[torch.Tensor, dict]:
    """The objective (a :class:`langrl.train.dpo.objectives.Objective`) on ``units``: one forward over all their
    responses; returns (mean loss over b, parts)."""
    flat, index, tiers = unit_grid(units)
    logps = gather_grid(row_logps(model, data, flat, pad_id), index)  # (b, n)
    ref_grid = gather_grid(ref[flat].to(logps.dtype), index)
    lengths = gather_grid(_lengths(data, flat), index)
    labels = torch.tensor([u.label for u in units], dtype=torch.long)
    return objective(logps, ref_grid, tiers, lengths, labels, z0)


def _add_parts(acc: dict, loss: torch.Tensor, parts: dict, weight: float) -> None:
    acc["loss"] = acc.get("loss", 0.0) + weight * float(loss.detach())
    for k, v in parts.items():
        acc[k] = acc.get(k, 0.0) + weight * float(v)


def _reduce_parts(acc: dict) -> dict:
    """Sum the weighted parts over data-parallel ranks (same key order on every rank)."""
    keys = sorted(acc)
    vec = dist.all_reduce_sum(torch.tensor([acc[k] for k in keys], dtype=torch.float64))
    return dict(zip(keys, vec.tolist()))


def train_step(model, data: OfflineData, my_units: list[Unit], n_global: int, ref: torch.Tensor, pad_id: int, *,
               objective, micro_batch_size: int) -> dict:
    """Forward + backward over this rank's units (micro-batched); gradients left summed in ``.grad`` over micro-batches
    and ranks, ready for the optimizer. Returns the global batch's mean loss and parts (parts are averaged over
    micro-batches weighted by size: exact for means over units; KTO's chosen/rejected rewards, means over the
    desirable/undesirable responses of a micro-batch, are then an approximation, for logging only)."""
    z0 = (kto_z0(model, data, my_units, n_global, ref, pad_id, 2 * micro_batch_size)
          if objective.shape == "single" else 0.0)
    acc: dict = {}
    for s in range(0, len(my_units), micro_batch_size):
        mb = my_units[s:s + micro_batch_size]
        loss, parts = unit_loss(model, data, mb, ref, pad_id, objective, z0)
        weight = len(mb) / n_global  # per-unit global normaliser: the pieces sum to the big-batch mean
        (loss * weight).backward()
        _add_parts(acc, loss, parts, weight)
    if dist.world_size() > 1:
        for p in model.parameters():
            if p.grad is not None:
                dist.all_reduce_sum(p.grad)  # each rank already divided by the global unit count: sum, not mean
    return _reduce_parts(acc)


@torch.no_grad()
def evaluate(model, data: OfflineData, units: list[Unit], ref: torch.Tensor, pad_id: int, *, objective, batch_size: int,
             reference=None) -> dict:
    """Held-out loss and parts (``eval_`` prefixed) and, given ``reference`` (a context manager yielding the reference
    model), ``eval_kl``: Σ_t KL(π(·|x, y<t) || π_ref(·|x, y<t)) over the response tokens of every held-out response,
    averaged over responses — the exact KL of the next-token distributions along the held-out data."""
    if not units:
        return {}
    was_training = model.training
    model.eval()
    n = len(units)
    # every rank evaluates the whole (small) held-out set: no reductions here
    z0 = (kto_z0(model, data, units, n, ref, pad_id, batch_size, across_ranks=False)
          if objective.shape == "single" else 0.0)
    acc: dict = {}
    kl_total, kl_rows = 0.0, 0
    for s in range(0, n, batch_size):
        mb = units[s:s + batch_size]
        loss, parts = unit_loss(model, data, mb, ref, pad_id, objective, z0)
        _add_parts(acc, loss, parts, len(mb) / n)
        if reference is not None:
            rows = sorted({r for u in mb for r in u.rows})
            kl_total += float(_token_kl(model, reference, data, rows, pad_id).sum())
            kl_rows += len(rows)
    model.train(was_training)
    out = {f"eval_{k}": v for k, v in acc.items()}
    if kl_rows:
        out["eval_kl"] = kl_total / kl_rows
    return out


def _token_kl(model, reference, data: OfflineData, rows: list[int], pad_id: int) -> torch.Tensor:
    """(r,) Σ over response tokens of KL(π || π_ref) between the full next-token distributions."""
    b = collate_rows(data, rows, pad_id)
    args = (b["prompt_ids"], b["prompt_mask"], b["response_ids"], b["response_mask"])
    logp = torch.log_softmax(response_logprobs(model, *args, with_logits=True).logits.float(), -1)
    with reference() as ref_model:
        logq = torch.log_softmax(response_logprobs(ref_model, *args, with_logits=True).logits.float(), -1)
    kl = (logp.exp() * (logp - logq)).sum(-1)  # KL(p || q) = Σ_v p (log p − log q), per position
    return (kl * b["response_mask"]).sum(-1)


@contextlib.contextmanager
def frozen(model):
    """A context manager yielding ``model`` (a separately loaded reference)."""
    yield model
