"""``langrl loop elicit-weights``: a person's weight vector over a ``langrl pareto`` front, from a few comparisons.

The math is :mod:`langrl.annotate.weights_elicit` (a grid posterior on the simplex, Bradley-Terry answers, questions
by expected information gain). Two ways to answer:

- ``--answers FILE``: a person's answers so far, one JSON line each ``{"a": NAME, "b": NAME, "preferred": NAME}``
  (a missing file: none yet); the command replays them, prints the elicited weight, the front point it selects and
  the next question to append an answer for (stateless: rerun after each answer);
- ``--simulate W1,W2,...``: a simulated person with those true weights (in the front's axis order) answers
  ``--questions`` questions; the error of the estimate after each is reported.

The front is ``pareto.json`` (``langrl pareto --out``'s; ``--kind`` and ``--space`` pick one of its fronts) or a
plain front ``{"axes": [...], "points": {NAME: [score, ...]}}``. When the pareto run trained a conditioned policy
(``--conditioned true``) and the front's axes are its objectives, the result names the ``langrl sample --weights``
invocation that serves it at the elicited weight (rounded to the conditioned run's training grid).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from langrl.config import arg
from langrl.errors import InputError


@dataclass
class ElicitWeightsConfig:
    front: str = arg("", "pareto.json (langrl pareto --out) or a front JSON {axes, points: {NAME: scores}}")
    kind: str = arg("sweep", "pareto.json: which front (the sweep's policies, the soups, the conditioned policy's "
                    "points)", choices=("sweep", "soups", "conditioned"))
    space: str = arg("auto", "pareto.json: the front in gold scores or in the training objectives (auto: gold when "
                     "there)", choices=("auto", "gold", "objectives"))
    points: str = arg("non_dominated", "compare the non-dominated points only, or all the front's points",
                      choices=("non_dominated", "all"))
    answers: str = arg("", "a person's answers, JSONL {a, b, preferred} (front point names); missing file: none yet")
    simulate: str = arg("", "a simulated person's true weights W1,W2,... in the front's axis order (instead of "
                        "--answers)")
    questions: int = arg(8, "--simulate: questions the simulated person answers")
    temperature: float = arg(0.05, "Bradley-Terry temperature T of the answers, P(a > b) = sigmoid(w.(a-b) / T), in "
                             "the front's score units")
    person_temperature: float | None = arg(None, "--simulate: the simulated person's temperature (default: "
                                           "--temperature; 0: always the better point)")
    strategy: str = arg("eig", "how the next question is chosen: expected information gain or random",
                        choices=("eig", "random"))
    grid_steps: int = arg(100, "resolution of the posterior's simplex grid (2 objectives: w_1 in 0, 0.01, ..., 1)")
    seed: int = arg(0, "seed of the simulated person and of random questions")
    out: str = arg("", "also write the result as JSON here (atomically)")

    def validate(self) -> None:
        def need(ok: bool, field: str, what: str) -> None:
            if not ok:
                raise InputError(f"loop elicit-weights: {what}", field=field)

        need(bool(self.front), "front", "--front PARETO_JSON is required")
        need(not (self.answers and self.simulate), "simulate", "pass --answers or --simulate, not both")
        need(self.questions >= 1, "questions", f"expected >= 1, got {self.questions}")
        need(self.temperature > 0, "temperature", f"expected > 0, got {self.temperature}")
        need(self.person_temperature is None or self.person_temperature >= 0, "person_temperature",
             f"expected >= 0, got {self.person_temperature}")
        need(self.grid_steps >= 1, "grid_steps", f"expected >= 1, got {self.grid_steps}")


def load_front(cfg: ElicitWeightsConfig) -> tuple[list[str], list[str], torch.Tensor, dict | None]:
    """(axes, point names, points (P, k), the pareto report or None) of ``--front``."""
    path = Path(cfg.front)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: expected a pareto.json or a front JSON ({e})", field="front") from None
    report = data if "fronts" in data else None
    if report is not None:
        fronts = report["fronts"]
        if cfg.kind not in fronts:
            raise InputError(f"{path}: no {cfg.kind} front (it has {', '.join(fronts)})", field="kind")
        spaces = fronts[cfg.kind]
        space = ("gold" if "gold" in spaces else "objectives") if cfg.space == "auto" else cfg.space
        if space not in spaces:
            raise InputError(f"{path}: the {cfg.kind} front has no {space} space ({', '.join(spaces)})",
                             field="space")
        data = spaces[space]
    if not isinstance(data.get("axes"), list) or not isinstance(data.get("points"), dict):
        raise InputError(f"{path}: expected 'axes' (a list) and 'points' ({{NAME: scores}})", field="front")
    axes, pts = data["axes"], data["points"]
    names = list(data.get("non_dominated", pts)) if cfg.points == "non_dominated" else list(pts)
    bad = [n for n in names if not (isinstance(pts.get(n), list) and len(pts[n]) == len(axes))]
    if bad:
        raise InputError(f"{path}: point {bad[0]!r}: expected {len(axes)} scores", field="front")
    if len(names) < 2 or len(axes) < 2:
        raise InputError(f"{path}: expected at least 2 points and 2 objectives to compare, got {len(names)} points "
                         f"on {len(axes)} axes", field="front")
    return axes, names, torch.tensor([pts[n] for n in names], dtype=torch.float64), report


def read_answers(path: Path, names: list[str]) -> list[tuple[int, int, int]]:
    """(i, j, preferred index) per line of the answers file (missing file: [])."""
    if not path.is_file():
        return []
    out = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise InputError(f"not JSON ({e})", path=str(path), line=line_no) from None
        for key in ("a", "b", "preferred"):
            if rec.get(key) not in names:
                raise InputError(f"expected one of the front's points ({', '.join(names)}), got {rec.get(key)!r}",
                                 path=str(path), line=line_no, field=key)
        if rec["preferred"] not in (rec["a"], rec["b"]) or rec["a"] == rec["b"]:
            raise InputError("expected two different points and the preferred one of them", path=str(path),
                             line=line_no, field="preferred")
        out.append((names.index(rec["a"]), names.index(rec["b"]), names.index(rec["preferred"])))
    return out


def serving(cfg: ElicitWeightsConfig, report: dict | None, axes: list[str], chosen: str, w: list[float]) -> dict:
    """How to serve the elicited weight: the conditioned policy's ``langrl sample --weights`` or the selected
    point's own policy, when the pareto run's directory holds them."""
    if report is None:
        return {}
    import yaml

    from langrl.rewards.weights import weight_grid

    root = Path(cfg.front).parent
    out = {}
    point_policy = root / chosen / "policy"
    if point_policy.is_dir():
        out["selected_policy"] = str(point_policy)
    cond = root / "conditioned" / "policy"
    if not cond.is_dir() or "conditioned" not in report["fronts"]:
        out["conditioned"] = "no conditioned policy in this pareto run (langrl pareto --conditioned true trains one)"
        return out
    if list(axes) != list(report["objectives"]):
        out["conditioned"] = f"the front's axes {axes} are not the conditioned policy's objectives"
        return out
    saved = yaml.safe_load((cond / "langrl_config.yaml").read_text()) if (cond / "langrl_config.yaml").is_file() else {}
    steps = int(saved.get("condition_steps") or 10)
    grid = torch.tensor(weight_grid(len(axes), steps), dtype=torch.float64)
    near = grid[int((grid - torch.tensor(w, dtype=torch.float64)).abs().sum(1).argmin())]  # nearest trained w (L1)
    weights = ",".join(f"{a}={float(v):g}" for a, v in zip(axes, near))
    prompts = saved.get("prompts", "task:NAME")
    out.update(conditioned=str(cond), served_weights=weights,
               serve=f"langrl sample --model {cond} --weights {weights} --prompts {prompts}")
    return out


def run_elicit_weights(cfg: ElicitWeightsConfig) -> dict:
    """Elicit (or simulate eliciting) the weight vector; the result dict (written to ``--out`` when given)."""
    from langrl.annotate import weights_elicit as we
    from langrl.io import atomic_write_json

    cfg.validate()
    axes, names, points, report = load_front(cfg)
    k = len(axes)
    grid = we.simplex_grid(k, cfg.grid_steps)
    result: dict = {"front": cfg.front, "axes": axes, "points": {n: p.tolist() for n, p in zip(names, points)},
                    "temperature": cfg.temperature, "strategy": cfg.strategy}
    if cfg.simulate:
        try:
            w_true = torch.tensor([float(x) for x in cfg.simulate.split(",")], dtype=torch.float64)
        except ValueError:
            raise InputError(f"expected {k} numbers W1,W2,..., got {cfg.simulate!r}", field="simulate") from None
        if len(w_true) != k or bool((w_true < 0).any()) or float(w_true.sum()) <= 0:
            raise InputError(f"expected {k} non-negative weights (one per axis: {', '.join(axes)}), not all 0, got "
                             f"{cfg.simulate!r}", field="simulate")
        w_true = w_true / w_true.sum()
        trace = we.simulate(points, w_true, questions=cfg.questions, temperature=cfg.temperature,
                            person_temperature=cfg.person_temperature, strategy=cfg.strategy,
                            grid_steps=cfg.grid_steps, seed=cfg.seed)
        w_hat = torch.tensor(trace[-1]["w"], dtype=torch.float64)
        result.update(true_weights=dict(zip(axes, w_true.tolist())), answers=len(trace) - 1,
                      error=trace[-1]["error"], errors=[t["error"] for t in trace],
                      asked=[[names[i] for i in t["question"]] for t in trace[1:]],
                      true_selected=names[we.best_point(points, w_true)])
    else:
        answers = read_answers(Path(cfg.answers), names) if cfg.answers else []
        diffs = torch.stack([points[p] - points[j if p == i else i] for i, j, p in answers]) if answers else \
            torch.zeros((0, k), dtype=torch.float64)
        log_post = we.log_posterior(grid, diffs, cfg.temperature)
        w_hat = we.posterior_mean(grid, log_post)
        asked = {(min(i, j), max(i, j)) for i, j, _ in answers}
        nxt = we.choose_question(points, grid, log_post, cfg.temperature, asked, cfg.strategy,
                                 torch.Generator().manual_seed(cfg.seed + len(answers)))
        result["answers"] = len(answers)
        if nxt is not None:
            a, b = names[nxt[0]], names[nxt[1]]
            result["next_question"] = {"a": a, "b": b, "a_scores": dict(zip(axes, points[nxt[0]].tolist())),
                                       "b_scores": dict(zip(axes, points[nxt[1]].tolist())),
                                       "append": {"a": a, "b": b, "preferred": "a or b's name"}}
    chosen = names[we.best_point(points, w_hat)]
    result.update(weights=dict(zip(axes, w_hat.tolist())), selected=chosen,
                  selected_scores=dict(zip(axes, points[names.index(chosen)].tolist())))
    result.update(serving(cfg, report, axes, chosen, w_hat.tolist()))
    if cfg.out:
        atomic_write_json(Path(cfg.out), result)
    return result


def loop_front(cfg):
    """``langrl loop --front``'s front and person, checked (bad input: InputError naming the loop's field):
    (elicit-weights config, axes, point names, points (P, k), pareto report or None, true weights (k,) summing to 1,
    or None when people answer without ``--front-weights``)."""
    ecfg = ElicitWeightsConfig(front=cfg.front, simulate=cfg.front_weights)
    axes, names, points, report = load_front(ecfg)
    if not cfg.front_weights:  # people through the app (validate() requires them for a simulated person)
        return ecfg, axes, names, points, report, None
    try:
        w_true = torch.tensor([float(x) for x in cfg.front_weights.split(",")], dtype=torch.float64)
    except ValueError:
        raise InputError(f"expected {len(axes)} numbers W1,W2,..., got {cfg.front_weights!r}",
                         field="front_weights") from None
    if len(w_true) != len(axes) or bool((w_true < 0).any()) or float(w_true.sum()) <= 0:
        raise InputError(f"expected {len(axes)} non-negative weights (one per axis: {', '.join(axes)}), not all 0, "
                         f"got {cfg.front_weights!r}", field="front_weights")
    return ecfg, axes, names, points, report, w_true / w_true.sum()


def loop_round(loop, r: int) -> dict:
    """``langrl loop --front``: round ``r``'s weights.json. A simulated person (``--front-weights``) has answered
    ``r * --front-questions`` EIG-chosen questions about the front's points by round r (one seeded trace of
    :func:`langrl.annotate.weights_elicit.simulate`, so a resumed loop asks the same and never repeats a pair);
    people (``--annotator app``) answer the round's questions in the app, one at a time
    (:func:`langrl.loop.app.ask_front`). The round's record holds its new questions, the estimate after every answer
    so far, the selected point and how to serve it; with true weights (simulated, or given for people) also the
    estimate's error and the selected point's regret."""
    from langrl.annotate import weights_elicit as we

    cfg = loop.cfg
    front = loop_front(cfg)
    ecfg, axes, names, points, report, w_true = front
    if cfg.annotator == "app":
        from langrl.loop.app import ask_front, torch_diffs

        earlier = [e for q in range(1, r) for e in json.loads((loop.rdir(q) / "weights.json").read_text())["asked"]]
        new = ask_front(loop, r, front, earlier)
        answered = [e for e in earlier + new if e["preferred"] is not None]
        grid = we.simplex_grid(len(axes), ecfg.grid_steps)
        w_hat = we.posterior_mean(grid, we.log_posterior(grid, torch_diffs(points, names, answered),
                                                         ecfg.temperature))
        asked = new
    else:
        trace = we.simulate(points, w_true, questions=r * cfg.front_questions, temperature=ecfg.temperature,
                            grid_steps=ecfg.grid_steps, seed=cfg.seed)
        answered = trace[1:]
        w_hat = torch.tensor(trace[-1]["w"], dtype=torch.float64)
        asked = [{"a": names[t["question"][0]], "b": names[t["question"][1]], "preferred": names[t["preferred"]]}
                 for t in trace[1 + (r - 1) * cfg.front_questions:]]
    chosen = names[we.best_point(points, w_hat)]
    out = {"round": r, "answers": len(answered), "weights": dict(zip(axes, w_hat.tolist())), "error": None,
           "selected": chosen, "true_selected": None, "regret": None, "asked": asked}
    if w_true is not None:
        own = names[we.best_point(points, w_true)]
        out.update(error=we.weight_error(w_hat, w_true), true_selected=own,
                   regret=float(points[names.index(own)] @ w_true - points[names.index(chosen)] @ w_true))
    return {**out, **serving(ecfg, report, axes, chosen, w_hat.tolist())}
