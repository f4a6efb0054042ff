"""Layering guards, read from the source with ``ast`` (nothing is imported):

- no module of the library imports the CLI layer (``langrl.commands``) except ``cli.py`` and ``commands/`` itself;
- no source file of the library is over 400 lines (the developers' guide: files ≤ ~400 lines; issue 15's "done when");
- the import graph of ``src/langrl`` has no cycles (every import counts, module-level or inside a function: a lazy
  import only hides a circle, it does not remove it). An import of a package (``from langrl.losses import x``) is an
  edge to its ``__init__``, except from inside that package, where it must name the submodule.
"""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "langrl"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The langrl modules ``name`` imports (``from P import x`` → ``P.x`` when that is a module, else ``P``)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "langrl")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "langrl":
                continue
            subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known}
            out.update(subs or {mod})
            if subs and len(subs) < len(node.names):
                out.add(mod)
    return {m for m in out if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {n: imports_of(n, p, set(mods)) for n, p in mods.items()}


def find_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    import sys
    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_library_does_not_import_the_cli_layer():
    g = graph()
    bad = sorted(f"{m} imports {d}" for m, deps in g.items() for d in deps
                 if (d == "langrl.commands" or d.startswith("langrl.commands."))
                 and not (m == "langrl.cli" or m == "langrl.commands" or m.startswith("langrl.commands.")))
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    cycles = find_cycles(graph())
    assert not cycles, "\n".join(" ⇄ ".join(c) for c in cycles)


def test_the_checker_sees_a_cycle_and_a_package_import():
    """The checker itself: a two-module circle is found, a chain is not (so the tests above can fail)."""
    assert find_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    g = graph()
    assert "langrl.losses" in g["langrl.train.pg.update"]  # a package import is an edge to its __init__


MAX_LINES = 400


def test_no_source_file_is_over_400_lines():
    # before issue 15's splits: jsonl.py had 443 lines and rewards/sandbox_harness.py 415
    long = sorted(f"{p.relative_to(SRC)}: {n} lines" for p in ROOT.rglob("*") if p.suffix in (".py", ".js", ".css",
                  ".html") and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES)
    assert not long, "split these along a natural seam:\n" + "\n".join(long)
