"""What is each feedback format worth per annotator judgement? (benchmark, not a test)

A hidden linear utility u(y) = w . phi(y) over bag-of-words features of random texts drives a simulated annotator with
Bradley-Terry / Plackett-Luce noise at temperature T (the Gumbel-max form: P(a > b) = sigmoid((u_a - u_b) / T), a list
is sorted by u / T + Gumbel, a rating is +1 with probability sigmoid(u / T)). With the same number of JUDGEMENTS J we
fit a linear reward model with each format's loss from :mod:`langrl.losses` and measure held-out pairwise accuracy
against the noiseless utility on fresh texts:

    BT, pairs                 J comparisons                                   bradley_terry_loss
    PL, lists of 4            J rankings of 4                                 plackett_luce_loss
    BT, all pairs of lists    the same J rankings as their 6 pairs each      bradley_terry_loss
    binary, ratings           J thumbs up/down                                binary_loss

A second table holds the number of texts READ fixed instead (a pair reads 2 texts, a list of 4 reads 4, a rating 1),
the other honest way to count annotation cost. Each cell is the mean (and standard error) over seeds.

    python benchmarks/feedback_efficiency.py [--seeds 20] [--temperature 1.0] [--budgets 25,50,100,200,400] [--quick]
"""
from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass

import torch

from langrl.config import arg, parse_config
from langrl.losses import binary_loss, bradley_terry_loss, plackett_luce_loss

WORDS = ("clear vague accurate wrong helpful rude concise rambling polite curt correct false relevant offtopic "
         "friendly cold precise sloppy honest evasive complete partial safe risky warm dull witty bland specific "
         "generic careful hasty").split()
FILLER = "the a of and to is it that this with for on as".split()
METHODS = ("BT, pairs", "PL, lists of 4", "BT, all pairs of lists", "binary, ratings")


@dataclass
class Settings:
    seeds: int = arg(20, "repetitions per cell (fresh utility, texts and feedback each)")
    temperature: float = arg(1.0, "annotator noise T (utilities have standard deviation 1)")
    budgets: str = arg("25,50,100,200,400", "comma-separated numbers of judgements")
    list_size: int = arg(4, "responses per ranking")
    l2: float = arg(1e-2, "L2 penalty on the linear reward model's weights (per judgement)")
    heldout_pairs: int = arg(4000, "fresh pairs for held-out accuracy")
    quick: bool = arg(False, "3 seeds and two budgets (a smoke run)")


def make_texts(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) if rng.random() < 0.6 else rng.choice(FILLER)
                     for _ in range(rng.randint(6, 14))) for _ in range(n)]


def features(texts: list[str]) -> torch.Tensor:
    """(n, d) word counts of the feature words (the only thing the utility and the model see)."""
    index = {w: i for i, w in enumerate(WORDS)}
    x = torch.zeros(len(texts), len(WORDS))
    for r, t in enumerate(texts):
        for w in t.split():
            if w in index:
                x[r, index[w]] += 1
    return x


class World:
    """One hidden utility over a pool of texts, and a noisy annotator for it."""

    def __init__(self, seed: int, temperature: float):
        self.rng = random.Random(seed)
        self.g = torch.Generator().manual_seed(seed)
        self.x = features(make_texts(self.rng, 4000))
        self.x = (self.x - self.x.mean(0)) / self.x.std(0).clamp_min(1e-6)  # standardised features
        w = torch.randn(len(WORDS), generator=self.g)
        u = self.x @ w
        self.w = w / u.std()  # utilities with std 1
        self.u = self.x @ self.w
        self.T = temperature
        self.n_train = 3000  # texts 3000.. are held out

    def pick(self, k: int) -> torch.Tensor:
        return torch.randint(0, self.n_train, (k,), generator=self.g)

    def gumbel(self, shape) -> torch.Tensor:
        u = torch.rand(shape, generator=self.g).clamp(1e-9, 1 - 1e-9)
        return -torch.log(-torch.log(u))

    def pairs(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """j comparisons: (chosen, rejected) text indices, Bradley-Terry noise."""
        ab = torch.stack([self.pick(j), self.pick(j)], 1)
        noisy = self.u[ab] / self.T + self.gumbel(ab.shape)  # Gumbel-max of two = BT with temperature T
        first = noisy[:, 0] > noisy[:, 1]
        return torch.where(first, ab[:, 0], ab[:, 1]), torch.where(first, ab[:, 1], ab[:, 0])

    def lists(self, j: int, n: int) -> torch.Tensor:
        """j rankings of n texts, best first (Plackett-Luce noise); (j, n) text indices."""
        items = torch.stack([self.pick(j) for _ in range(n)], 1)
        order = (self.u[items] / self.T + self.gumbel(items.shape)).argsort(1, descending=True)
        return items.gather(1, order)

    def ratings(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.pick(j)
        good = torch.rand(j, generator=self.g) < torch.sigmoid(self.u[idx] / self.T)
        return idx, good.float() * 2 - 1

    def heldout_accuracy(self, w_hat: torch.Tensor, n: int) -> float:
        a = torch.randint(self.n_train, len(self.u), (n,), generator=self.g)
        b = torch.randint(self.n_train, len(self.u), (n,), generator=self.g)
        keep = self.u[a] != self.u[b]
        return ((self.x[a] @ w_hat > self.x[b] @ w_hat) == (self.u[a] > self.u[b]))[keep].float().mean().item()


def fit(loss_fn, d: int, l2: float, n_judgements: int, bias: bool = False) -> torch.Tensor:
    """A linear reward model minimising mean loss + l2 ||w||^2 / J (full-batch L-BFGS)."""
    w = torch.zeros(d + int(bias), requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = loss_fn(w) + l2 * (w[:d] ** 2).sum() / n_judgements
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()[:d]


def run_method(world: World, method: str, judgements: int, s: Settings) -> float:
    x, d, n = world.x, len(WORDS), s.list_size
    if method == "BT, pairs":
        c, r = world.pairs(judgements)
        w = fit(lambda w: bradley_terry_loss(x[c] @ w, x[r] @ w)[0], d, s.l2, judgements)
    elif method == "PL, lists of 4":
        ranked = world.lists(judgements, n)
        order = torch.arange(n).expand(judgements, n)  # the columns are already best -> worst
        w = fit(lambda w: plackett_luce_loss(x[ranked] @ w, order)[0], d, s.l2, judgements)
    elif method == "BT, all pairs of lists":
        ranked = world.lists(judgements, n)
        ij = [(i, j) for i in range(n) for j in range(i + 1, n)]
        c = torch.cat([ranked[:, i] for i, _ in ij])
        r = torch.cat([ranked[:, j] for _, j in ij])
        # the mean over 6 pairs per list, times 6: each list weighs as much as its pairs (a sum over a list's pairs)
        w = fit(lambda w: len(ij) * bradley_terry_loss(x[c] @ w, x[r] @ w)[0], d, s.l2, judgements)
    else:
        idx, y = world.ratings(judgements)
        w = fit(lambda w: binary_loss(x[idx] @ w[:d] + w[d], y)[0], d, s.l2, judgements, bias=True)
    return world.heldout_accuracy(w, s.heldout_pairs)


def judgements_for(method: str, budget: int, unit: str, n: int) -> int:
    """Judgements a method gets: ``budget`` of them, or as many as ``budget`` texts read allow."""
    if unit == "judgements":
        return budget
    reads = {"BT, pairs": 2, "binary, ratings": 1}.get(method, n)
    return max(1, budget // reads)


def main(argv: list[str]) -> int:
    s, _ = parse_config(Settings, argv, prog="feedback_efficiency", summary=__doc__.splitlines()[0])
    seeds, budgets = (3, [50, 200]) if s.quick else (s.seeds, [int(b) for b in s.budgets.split(",")])
    t0 = time.time()
    results: dict = {}
    worlds = [World(seed, s.temperature) for seed in range(seeds)]  # one hidden utility per seed, shared by cells
    for unit in ("judgements", "texts read"):
        results[unit] = {}
        for m, method in enumerate(METHODS):
            row = {}
            for b in budgets:
                accs = []
                for seed, world in enumerate(worlds):
                    world.g.manual_seed(1_000_003 * seed + 101 * b + m)  # fresh, reproducible feedback per cell
                    accs.append(run_method(world, method, judgements_for(method, b, unit, s.list_size), s))
                mean = sum(accs) / len(accs)
                se = (sum((a - mean) ** 2 for a in accs) / max(1, len(accs) - 1) / len(accs)) ** 0.5
                row[b] = (mean, se)
            results[unit][method] = row
    for unit, table in results.items():
        print(f"\nHeld-out pairwise accuracy vs the noiseless utility, equal number of {unit} "
              f"(T={s.temperature}, {seeds} seeds, mean ± s.e.)")
        print(f"| {'method':<24} | " + " | ".join(f"{b:>13}" for b in budgets) + " |")
        print(f"|{'-' * 26}|" + "|".join("-" * 15 for _ in budgets) + "|")
        for method, row in table.items():
            print(f"| {method:<24} | " + " | ".join(f"{m:.3f} ± {e:.3f}" for m, e in row.values()) + " |")
    print()
    print(json.dumps({"benchmark": "feedback_efficiency", "temperature": s.temperature, "seeds": seeds,
                      "list_size": s.list_size, "seconds": round(time.time() - t0, 1),
                      "results": {u: {m: {str(b): round(v[0], 4) for b, v in row.items()} for m, row in t.items()}
                                  for u, t in results.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
