"""``langrl loop``: iterated RLHF with active elicitation, as rounds that survive a crash at any point.

Round r (1..R), each step's output written atomically under ``out/rounds/rNN/`` before the next starts:

    sample    samples.json      the current policy's responses to the round's training prompts
    select    asked.json        the questions the strategy asks (pairs or lists not asked before), and each shadow's
    collect   judgements.jsonl  the judgements, with ``round``, ``question_id`` and ``time`` (ISO 8601)
    rm        rm.json           the reward model refitted on every judgement so far (recency weights, window, drift
                                monitor), its accuracy against gold pairs, the shadows' and a uniform model's
    reward    reward.json       that model's weights (a reward: --reward loop-rm:path=..., :mod:`langrl.loop.reward`)
    policy    policy.json       iterated DPO on the round's new pairs, or GRPO/RLOO/PPO on reward.json (model in
                                policy/; :mod:`langrl.loop.policy`), or the policy kept
    eval      eval.json         the policy's gold, gold under the round's preferences, and KL to the start
    weights   weights.json      --front: the round's questions about a pareto front's points and the person's
                                elicited weight vector (:func:`langrl.loop.elicit_weights.loop_round`)

Round 0 holds the start policy's evaluation and the reward model's gold pool (``pool.json``). A restarted loop
(``--resume``) skips every step whose file exists: a question is written to asked.json before it is asked and never
chosen again (keys of every earlier round are excluded), and judgements are only ever added (in the app's database
until exported). The reward model is linear in fixed features (:mod:`langrl.loop.rm`), so refitting is cheap and its
posterior gives the information gain; the policy learns from what was asked (online iterative DPO, as OpenRLHF's
iterative DPO but with the pairs chosen actively) or from the reward model (GRPO/RLOO/PPO through ``langrl rl``'s
loop). Departures: PPO's value head is carried between rounds, no optimizer state is; simulated judgement times are
one hour per round from 2026-01-01.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from langrl.config import to_dict
from langrl.errors import InputError
from langrl.io import atomic_write_json, atomic_write_jsonl
from langrl.loop import rm as lrm
from langrl.loop.config import LoopConfig

T0 = 1767225600.0  # 2026-01-01T00:00:00Z
ROUND_SECONDS = 3600
_HOOK = None  # tests: called as _HOOK(step, round) after each step's file is written (raise to simulate a crash)
NOT_CHECKED = ("resume", "overwrite", "rounds", "deadline_s", "poll_s")  # may change between runs of one loop


def question_key(prompt, texts: list[str]) -> str:
    """The identity of a question: its prompt and its set of responses (order does not matter)."""
    return hashlib.sha1(json.dumps([prompt, sorted(texts)], ensure_ascii=False).encode()).hexdigest()[:16]


def candidates(samples: dict, unit: str) -> list[dict]:
    """Every question a round's samples offer: pairs of distinct responses, or the whole list when all differ."""
    out = []
    for i, (row, resps) in enumerate(zip(samples["rows"], samples["responses"])):
        groups = itertools.combinations(range(len(resps)), 2) if unit == "pair" else [tuple(range(len(resps)))]
        for idx in groups:
            texts = [resps[j] for j in idx]
            if len(set(texts)) == len(texts):
                out.append({"prompt": i, "indices": list(idx), "key": question_key(row["prompt"], texts)})
    return out


class Loop:
    def __init__(self, cfg: LoopConfig, quiet: bool = False):
        from langrl.loop.features import Featurizer
        from langrl.tasks import get_task
        from langrl.tasks.drift import DriftingAnnotator, DriftSchedule

        self.cfg, self.out, self.quiet = cfg, Path(cfg.out), quiet
        self.task = get_task(cfg.task)
        schedule = DriftSchedule(cfg.drift, cfg.drift_round, cfg.drift_angle)
        self.annotator = DriftingAnnotator(self.task, cfg.seed, schedule, cfg.drift_target,
                                           flip=cfg.annotator_flip, temperature=cfg.annotator_temperature)
        self.feat = Featurizer(cfg.features)
        from langrl.demo.config import MAX_NEW

        self.max_new = cfg.max_new_tokens or MAX_NEW[cfg.task]

    # ------------------------------------------------------------------------------------------------ plumbing
    def log(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)

    def rdir(self, r: int) -> Path:
        return self.out / "rounds" / f"r{r:02d}"

    def step(self, name: str, r: int, path: Path, make):
        """The step's file if it exists (a resumed loop), else ``make()`` written atomically; then the test hook."""
        if path.is_file():
            return json.loads(path.read_text()) if path.suffix == ".json" else _read_jsonl(path)
        value = make()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            atomic_write_json(path, value)
        else:
            atomic_write_jsonl(path, value)
        if _HOOK is not None:
            _HOOK(name, r)
        return value

    def open_dir(self) -> None:
        meta = self.out / "loop.json"
        mine = {k: v for k, v in to_dict(self.cfg).items() if k not in NOT_CHECKED}
        if meta.is_file():
            if self.cfg.overwrite:
                shutil.rmtree(self.out)
            elif not self.cfg.resume:
                raise InputError(f"{self.out} holds a loop; pass --resume to continue it or --overwrite to start "
                                 "over", field="out")
            else:
                saved = json.loads(meta.read_text())["config"]
                defaults = to_dict(LoopConfig())
                for k, v in mine.items():
                    if saved.get(k, defaults[k]) != v:  # a setting newer than the loop: its default then
                        raise InputError(f"--resume: {k} was {saved.get(k, defaults[k])!r} in {meta}, got {v!r}; a "
                                         "resumed loop keeps its settings (only rounds, deadline_s and poll_s may "
                                         "change)", field=k)
                return
        elif self.out.exists() and any(self.out.iterdir()) and not self.cfg.overwrite:
            raise InputError(f"{self.out} exists and is not a loop directory; choose another --out", field="out")
        self.out.mkdir(parents=True, exist_ok=True)
        from langrl.models.specs import resolve_model_dir

        start = str(resolve_model_dir(self.cfg.policy, quiet=self.quiet))
        atomic_write_json(meta, {"config": mine, "start_policy": start})

    @property
    def start_policy(self) -> str:
        return json.loads((self.out / "loop.json").read_text())["start_policy"]

    def policy_at(self, r: int) -> str:
        return self.start_policy if r == 0 else json.loads((self.rdir(r) / "policy.json").read_text())["path"]

    def sample(self, policy: str, rows: list[dict], seed: int) -> list[list[str]]:
        from langrl.models.specs import load_causal_lm
        from langrl.rollout import sample

        model, tok = load_causal_lm(policy, quiet=True)
        k = self.cfg.samples_per_prompt
        out = []
        for s in range(0, len(rows), 32):
            chunk = rows[s:s + 32]
            ro = sample(model, tok, [r["prompt"] for r in chunk], n=k, max_new_tokens=self.max_new, seed=seed + s)
            out += [[t if t.strip() else " ..." for t in ro.responses[i * k:(i + 1) * k]] for i in range(len(chunk))]
        return out

    # ------------------------------------------------------------------------------------------------ round 0
    def setup(self) -> dict:
        cfg = self.cfg

        def pool():
            rows = self.task.prompts("eval", cfg.rm_eval_prompts, cfg.seed + 11)
            return {"rows": rows, "responses": self.sample(self.start_policy, rows, cfg.seed * 7919 + 11)}

        pool_data = self.step("pool", 0, self.out / "pool.json", pool)
        self.step("eval", 0, self.rdir(0) / "eval.json", lambda: self.evaluate(0))
        return pool_data

    def eval_rows(self) -> list[dict]:
        return self.task.prompts("eval", self.cfg.eval_prompts, self.cfg.seed + 2)

    def evaluate(self, r: int) -> dict:
        from langrl.eval.evaluate import evaluate_policy
        from langrl.models.specs import load_causal_lm

        rows = self.eval_rows()
        model, tok = load_causal_lm(self.policy_at(r), quiet=True)
        ref = load_causal_lm(self.start_policy, quiet=True)[0] if r else None
        m, responses = evaluate_policy(model, tok, rows, task=self.task, ref_model=ref, max_new_tokens=self.max_new,
                                       seed=self.cfg.seed + 3, per_sample=True)
        now = self.annotator.task_at(r)
        return {"gold": m["gold/gold"], "gold_se": m.get("gold_se"), "kl": m.get("kl", 0.0),
                "gold_per_sample": m["gold_per_sample"],
                "current_per_sample": [now.utility(row, y) for row, y in zip(rows, responses)],
                "theta": now.theta, "responses": responses}

    # ------------------------------------------------------------------------------------------------ judgements
    def judgements(self, upto: int, shadow: str | None = None) -> list[dict]:
        """Every judgement of rounds 1..upto (the main strategy's, or a shadow's)."""
        out = []
        for r in range(1, upto + 1):
            if shadow is None:
                out += _read_jsonl(self.rdir(r) / "judgements.jsonl")
            else:
                out += json.loads((self.rdir(r) / "shadow.json").read_text())[shadow]
        return out

    def asked_keys(self, upto: int, shadow: str | None = None) -> set[str]:
        keys = set()
        for r in range(1, upto + 1):
            asked = json.loads((self.rdir(r) / "asked.json").read_text())
            keys |= {q["key"] for q in (asked["main"] if shadow is None else asked["shadow"][shadow])}
        return keys

    def reset_round(self, upto: int) -> int:
        """The first round the main reward model still fits (after a drift alarm with --drift-response retrain)."""
        reset = 0
        for r in range(1, upto + 1):
            reset = max(reset, json.loads((self.rdir(r) / "rm.json").read_text())["reset"])
        return reset

    def weights(self, rounds: torch.Tensor, now: int, reset: int = 0) -> torch.Tensor:
        return lrm.round_weights(rounds, now, half_life=self.cfg.recency_half_life, window=self.cfg.window,
                                 reset=reset)

    def choose(self, strategy: str, cands: list[dict], samples: dict, past: list[dict], r: int, reset: int,
               asked: set[str]) -> list[dict]:
        from langrl.annotate.elicit import choose

        cfg = self.cfg
        open_ = [c for c in cands if c["key"] not in asked]
        if not open_:
            return []
        if r <= cfg.warmup_rounds:  # the cold start: every strategy asks the same seeded random questions
            strategy = "random"
        feats = torch.stack([self.feat([samples["responses"][c["prompt"]][j] for j in c["indices"]]) for c in open_])
        lists, rounds = lrm.judgement_lists(past, self.feat)
        w = self.weights(rounds, r - 1, reset)
        kw = {}
        if strategy in ("eig", "predictive"):
            kw["mean"], kw["cov"] = lrm.fit(lists, w, cfg.prior_var, self.feat.dim)
        elif strategy == "disagreement":
            kw["members"] = lrm.bootstrap_members(lists, w, cfg.ensemble, cfg.seed + r, cfg.prior_var,
                                                  self.feat.dim)
        elif strategy == "coverage":
            seen = [t for rec in past for t in (lrm.ordered_texts(rec) or rec.get("responses", []))]
            kw["seen"] = self.feat(seen) if seen else torch.zeros((0, self.feat.dim), dtype=torch.float64)
        picked = choose(strategy, feats, cfg.labels_per_round, seed=cfg.seed * 100003 + r, **kw)
        return [dict(open_[i], id=f"r{r:02d}-q{n:03d}") for n, i in enumerate(picked)]

    def ask_simulated(self, questions: list[dict], samples: dict, r: int) -> list[dict]:
        from langrl.feedback.timing import format_time

        annot = self.annotator.at(r)
        out = []
        for n, q in enumerate(questions):
            row = samples["rows"][q["prompt"]]
            texts = [samples["responses"][q["prompt"]][j] for j in q["indices"]]
            rec = annot.compare(row, *texts) if len(texts) == 2 and self.cfg.unit == "pair" else annot.rank(row, texts)
            rec.update(round=r, question_id=q["id"], time=format_time(T0 + r * ROUND_SECONDS + n),
                       annotator=f"simulated-{self.cfg.seed}")
            rec.update((c, v) for c, v in row.items() if c not in rec)  # the gold evaluator's inputs
            out.append(rec)
        return out

    # ------------------------------------------------------------------------------------------------ one round
    def run_round(self, r: int, pool: dict) -> dict:
        cfg, d = self.cfg, self.rdir(r)
        rows = self.task.prompts("train", cfg.prompts_per_round, cfg.seed * 1009 + r)
        samples = self.step("sample", r, d / "samples.json", lambda: {
            "rows": rows, "responses": self.sample(self.policy_at(r - 1), rows, cfg.seed * 7919 + r)})
        cands = candidates(samples, cfg.unit)
        reset = self.reset_round(r - 1)

        def select():
            main = self.choose(cfg.strategy, cands, samples, self.judgements(r - 1), r, reset,
                               self.asked_keys(r - 1))
            shadow = {s: self.choose(s, cands, samples, self.judgements(r - 1, s), r, 0, self.asked_keys(r - 1, s))
                      for s in cfg.shadows}
            return {"main": main, "shadow": shadow}

        asked = self.step("select", r, d / "asked.json", select)

        def collect():
            if cfg.annotator == "app":
                from langrl.loop.app import ask_people

                return ask_people(self, asked["main"], samples, r)
            return self.ask_simulated(asked["main"], samples, r)

        self.step("collect", r, d / "judgements.jsonl", collect)
        self.step("collect-shadow", r, d / "shadow.json",
                  lambda: {s: self.ask_simulated(q, samples, r) for s, q in asked["shadow"].items()})
        self.step("rm", r, d / "rm.json", lambda: self.refit(r, pool, reset))
        self.step("reward", r, d / "reward.json", lambda: self.reward_model(r, samples))
        self.step("policy", r, d / "policy.json", lambda: self.update_policy(r))
        ev = self.step("eval", r, d / "eval.json", lambda: self.evaluate(r))
        if cfg.front:  # the person's weight vector over a pareto front, a few questions a round
            from langrl.loop.elicit_weights import loop_round

            self.step("weights", r, d / "weights.json", lambda: loop_round(self, r))
        return ev

    def refit(self, r: int, pool: dict, reset: int) -> dict:
        cfg = self.cfg
        lists, rounds = lrm.judgement_lists(self.judgements(r), self.feat)
        monitor = None
        if r >= 2 and len(rounds):
            monitor = lrm.drift_monitor(lists, rounds, r, prior_var=cfg.prior_var, threshold=cfg.drift_threshold,
                                        dim=self.feat.dim, reset=reset, alpha=cfg.drift_alpha, pool=cfg.drift_pool)
            if monitor["alarm"] and cfg.drift_response == "retrain":
                reset = monitor["change"]  # refit from the first round of the block that changed
        xa, xb, ua, ub = self.gold_pairs(pool, r)
        fit = self.main_fit(lists, rounds, r, reset)
        uniform = lrm.fit(lists, torch.ones(len(rounds), dtype=torch.float64), cfg.prior_var, self.feat.dim)[0]
        out = {"labels": len(self.judgements(r)), "fitted": int((self.weights(rounds, r, reset) > 0).sum()),
               "rm_accuracy": lrm.gold_accuracy(fit, xa, xb, ua, ub),
               "rm_accuracy_uniform": lrm.gold_accuracy(uniform, xa, xb, ua, ub),
               "drift": monitor, "reset": reset, "shadow": {}}
        for s in cfg.shadows:
            sl, sr = lrm.judgement_lists(self.judgements(r, s), self.feat)
            theta = lrm.fit(sl, self.weights(sr, r), cfg.prior_var, self.feat.dim)[0]
            out["shadow"][s] = {"labels": len(self.judgements(r, s)), "rm_accuracy": lrm.gold_accuracy(theta, xa, xb,
                                                                                                      ua, ub)}
        return out

    def main_fit(self, lists: torch.Tensor, rounds: torch.Tensor, r: int, reset: int) -> torch.Tensor:
        """(d,) the main reward model's posterior mean at round ``r`` (recency weights, window, drift reset)."""
        return lrm.fit(lists, self.weights(rounds, r, reset), self.cfg.prior_var, self.feat.dim)[0]

    def reward_model(self, r: int, samples: dict) -> dict:
        """reward.json: round ``r``'s reward model (the fit rm.json scored), standardised on the round's samples."""
        from langrl.loop.reward import reward_record

        lists, rounds = lrm.judgement_lists(self.judgements(r), self.feat)
        reset = json.loads((self.rdir(r) / "rm.json").read_text())["reset"]
        theta = self.main_fit(lists, rounds, r, reset)
        texts = [y for resps in samples["responses"] for y in resps]
        return reward_record(theta, self.cfg.features, self.feat(texts) @ theta, round=r, reset=reset,
                             labels=len(self.judgements(r)))

    def gold_pairs(self, pool: dict, r: int):
        """The gold pool's pairs: features (P, d) twice and utilities under the preferences of round ``r``."""
        now = self.annotator.task_at(r)
        a_txt, b_txt, ua, ub = [], [], [], []
        for row, resps in zip(pool["rows"], pool["responses"]):
            u = [now.utility(row, y) for y in resps]
            for i, j in itertools.combinations(range(len(resps)), 2):
                a_txt.append(resps[i])
                b_txt.append(resps[j])
                ua.append(u[i])
                ub.append(u[j])
        return self.feat(a_txt), self.feat(b_txt), ua, ub

    def update_policy(self, r: int) -> dict:
        from langrl.loop.policy import update_policy

        return update_policy(self, r)

    # ------------------------------------------------------------------------------------------------ the loop
    def run(self) -> dict:
        from langrl.loop.claims import write_metrics

        if self.cfg.front:  # bad --front / --front-weights fail before anything is written
            from langrl.loop.elicit_weights import loop_front

            loop_front(self.cfg)
        self.open_dir()
        t0 = time.time()
        pool = self.setup()
        for r in range(1, self.cfg.rounds + 1):
            ev = self.run_round(r, pool)
            rm = json.loads((self.rdir(r) / "rm.json").read_text())
            alarm = " DRIFT ALARM" if rm["drift"] and rm["drift"]["alarm"] else ""
            self.log(f"[loop] round {r}/{self.cfg.rounds}: labels {rm['labels']}, RM accuracy vs gold "
                     f"{rm['rm_accuracy']:.3f}, policy gold {ev['gold']:.3f}, KL {ev['kl']:.3f}{alarm}")
            write_metrics(self)
        metrics = write_metrics(self)
        metrics["seconds_this_run"] = round(time.time() - t0, 1)
        return metrics


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_loop(cfg: LoopConfig, quiet: bool = False) -> dict:
    """Run (or resume) the loop in ``cfg.out``; return metrics.json's content."""
    return Loop(cfg, quiet=quiet).run()
