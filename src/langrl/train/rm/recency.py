"""Recency-weighted reward-model training data: each record's weight from its ``time`` field.

``langrl rm train --recency-half-life H`` weights a record made ``a`` seconds before the newest one by 2^(-a / H);
``--window W`` leaves out records more than ``W`` seconds older than the newest (the weights are the pure functions
of :mod:`langrl.feedback.timing`). The loss of a batch is then sum_i w_i loss_i / N (see
:mod:`langrl.models.rm.losses`), so a weight of 1/2 counts a judgement half as much as a new one.
"""
from __future__ import annotations

import torch

from langrl.errors import InputError
from langrl.models.rm.data import records_to_items


def recency_items(records, half_life: float, window: float, convert: dict):
    """Training items with each record's recency weight (items, dropped, weights (n_items,)).

    Weights are :func:`langrl.feedback.timing.combined_weights` of the records' ``time`` fields, relative to the
    newest; records outside the window are left out. A record that becomes several items (a ranking under --loss bt)
    gives each its weight (and, with ``convert['head']``, its record's objective head).
    """
    from langrl.feedback.timing import combined_weights, record_time

    times = []
    for n, rec in enumerate(records, 1):
        t = record_time(rec)
        if t is None:
            raise InputError(f"missing on training record {n} (prompt {str(rec.prompt)[:40]!r}); "
                             "--recency-half-life and --window need a time on every record", field="time")
        times.append(t)
    rec_w = combined_weights(times, half_life=half_life, window=window)
    items, dropped, item_w = [], {}, []
    for rec, w in zip(records, rec_w):
        if w <= 0:
            dropped["outside --window"] = dropped.get("outside --window", 0) + 1
            continue
        its, d = records_to_items([rec], **convert)  # one record at a time: the same items as one call
        items += its
        item_w += [w] * len(its)
        for why, k in d.items():
            dropped[why] = dropped.get(why, 0) + k
    return items, dropped, torch.tensor(item_w, dtype=torch.float32)
