"""Imports run one way, and never in a circle: a small AST walk over every package.

Layers, lowest first; a module may import its own layer and the layers below it, never above.
``bot.cli`` is the one exception: it imports the demo and the emulator lazily, inside the
command that needs them, so the product never loads a test tool otherwise."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage", "emulator", "bench", "demo")
FOUNDATION = {"bot.settings", "bot.clock", "bot.logs", "bot.i18n"}
PROCESS = {"bot", "bot.app", "bot.cli", "bot.timers", "bot.__main__"}
# module prefix -> layer; the longest matching prefix wins
LAYERS: dict[str, int] = {
    "storage": 0,
    **dict.fromkeys(FOUNDATION, 1),
    "bot.domain": 2,
    "bot.delivery": 3,
    "handlers": 4,
    **dict.fromkeys(PROCESS, 5),
    "demo": 6,
    "bench": 6,
}
LAZY_ALLOWED = {("bot.cli", "demo"), ("bot.cli", "emulator")}
# The emulator stands apart: it speaks only the Bot API, so it imports nothing of ours, and
# only what stands above the bot (demo, bench) may import it.
EMULATOR_USERS = {"demo", "bench"}
NO_TELEGRAM = ("storage", "bot.domain", *FOUNDATION)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top(name: str, known: set[str]) -> str | None:
    """The project module an import names (or its package), or None for a third party."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(path: Path, known: set[str], root: Path = REPO) -> list[tuple[str, str, int]]:
    """(imported project module, kind, line) for each import in the file. The kind is "lazy"
    inside a function, "typing" under ``if TYPE_CHECKING`` (still an arrow, but it runs at no
    import, so it cannot close a cycle), else "eager"."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path, root)
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = kind
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = "lazy"
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = "typing"
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: resolve against this package
                    base = me.split(".")
                    if path.name != "__init__.py":
                        base = base[:-1]
                    base = base[: len(base) - child.level + 1]
                    mod = ".".join([*base, child.module] if child.module else base)
                else:
                    mod = child.module or ""
                names = [f"{mod}.{a.name}" for a in child.names]
            for target in {top(name, known) for name in names}:
                if target is not None and target != me:
                    found.append((target, kind, child.lineno))
            visit(child, inner)

    visit(tree, "eager")
    return found


def layer(name: str) -> int | None:
    best = None
    for prefix, level in LAYERS.items():
        if (name == prefix or name.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best[0])):
            best = (prefix, level)
    return None if best is None else best[1]


def graph(root: Path = REPO) -> dict[str, list[tuple[str, str, int]]]:
    files = [p for pkg in PACKAGES if (root / pkg).is_dir() for p in (root / pkg).rglob("*.py")]
    known = {module_name(p, root) for p in files}
    return {module_name(p, root): imports(p, known, root) for p in files}


def wrong_arrows(root: Path = REPO) -> list[str]:
    wrong = []
    for mod, targets in graph(root).items():
        pkg = mod.split(".")[0]
        for target, kind, line in targets:
            to = target.split(".")[0]
            if (mod, to) in LAZY_ALLOWED and kind == "lazy":
                continue
            if pkg == "emulator" or to == "emulator":
                if pkg != to and pkg not in EMULATOR_USERS:
                    wrong.append(f"{mod}:{line} imports {target}")
                continue
            mine, theirs = layer(mod), layer(target)
            if mine is None or theirs is None or theirs > mine:
                wrong.append(f"{mod}:{line} (layer {mine}) imports {target} (layer {theirs})")
    return wrong


def test_every_module_has_a_layer() -> None:
    missing = [m for m in graph() if layer(m) is None and m.split(".")[0] != "emulator"]
    assert not missing, f"modules with no layer in tests/test_layers.py: {missing}"


def test_imports_run_one_way() -> None:
    wrong = wrong_arrows()
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    """Imports that run when the module loads: a lazy import (how cli reaches the demo) or a
    TYPE_CHECKING one cannot loop at import time. Any cycle of the rest fails."""
    edges = {m: sorted({t for t, kind, _ in ts if kind == "eager"}) for m, ts in graph().items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in edges:
        if node not in state:
            walk(node)
    # a package importing its own submodules (storage/__init__) is not a cycle of ours
    cycles = [c for c in cycles if not all(x == c[0] or x.startswith(c[0] + ".") or
                                           c[0].startswith(x + ".") for x in c)]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("prefix", NO_TELEGRAM)
def test_rules_know_nothing_of_telegram(prefix: str) -> None:
    """The domain, storage and the foundation never import python-telegram-bot."""
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
             if layer(module_name(p)) is not None and
             (module_name(p) == prefix or module_name(p).startswith(prefix + "."))]
    bad = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{module_name(path)}: {m}" for m in mods if m.split(".")[0] == "telegram"]
    assert files and not bad, bad


def test_the_checker_sees_wrong_arrows(tmp_path: Path) -> None:
    """The walk itself works: upward, emulator and lazy-but-not-allowed arrows are reported,
    a downward one is not."""
    files = {
        "storage/__init__.py": "",
        "handlers/__init__.py": "",
        "emulator/__init__.py": "",
        "bot/__init__.py": "",
        "bot/app.py": "from handlers import x\n",
        "bot/domain/__init__.py": "",
        "bot/domain/rule.py": "from storage import Tx\nfrom handlers import y\n"
                              "def f():\n    import emulator\n",
        "emulator/server.py": "from bot.domain import rule\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    found = wrong_arrows(tmp_path)
    assert sorted(found) == sorted([
        "bot.domain.rule:2 (layer 2) imports handlers (layer 4)",
        "bot.domain.rule:4 imports emulator",
        "emulator.server:1 imports bot.domain.rule",
    ]), found
