"""No import cycle among ``ordebug_lib``'s modules, read from the source (``ast``, nothing is imported).

Module level: the imports Python runs when it loads a module (the file's top, including ``try`` / ``if`` / class
bodies; ``if TYPE_CHECKING:`` blocks left out), and not those inside functions. A cycle there makes the result
depend on which module is imported first, and pushes one side into function-level imports to dodge it (what
``policy/generation.py`` did with ``engine.py`` until ``policy/decoding.py`` took the token-id layer both need).
No module-level cycle is allowed (none exists).

Function-level imports: with them too, the only loops allowed are those closed by a statement of
``KNOWN_FUNCTION_LEVEL_LOOPS``; a new one fails, and so does a listed one that no longer closes a loop (so the
list shrinks as loops are broken).

Edges: ``import a.b.c`` and ``from a.b.c import x`` run ``a``, ``a.b`` and ``a.b.c`` (their ``__init__``), and
``a.b.c.x`` when ``x`` is a submodule; packages that contain the importer are left out (Python has already
started them before the importer runs). Run as a script, this file prints every cycle it finds:
``.venv/bin/python tests/test_import_cycles.py``.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ordebug_lib"

# (importer, module its function-level import statement names): loops known today, not yet broken.
KNOWN_FUNCTION_LEVEL_LOOPS = {
    # engine.run_engine_episodes -> training.rollouts -> policy.generation -> policy.engine (and training's
    # __init__ -> training.config -> policy.engine)
    ("ordebug_lib.policy.engine", "ordebug_lib.training.rollouts"),
}


def modules(package: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package) for every module of the package."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _statements(body, in_function=False):
    """(import statement, inside a function?) for every import of ``body``, module-level blocks walked into."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _statements(node.body, True)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                yield from _statements(getattr(node, field, []) or [], in_function)


def imports(mods: dict[str, tuple[Path, bool]]) -> list[tuple[str, str, set[str], bool]]:
    """(importer, module the statement names, package modules it runs, inside a function?) per statement."""
    out = []
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        for node, in_function in _statements(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                named = [a.name for a in node.names]
            else:
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                named = [mod] + [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in mods]
            for target in named:
                parts = target.split(".")
                runs = {t for t in (".".join(parts[:k]) for k in range(1, len(parts) + 1))
                        if t in mods and not (name == t or name.startswith(t + "."))}
                if runs:
                    out.append((name, target, runs, in_function))
    return out


def graph(stmts, function_level: bool, skip=frozenset()) -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for importer, target, runs, in_function in stmts:
        if (in_function and not function_level) or (importer, target) in skip:
            continue
        g.setdefault(importer, set()).update(runs)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), each sorted."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    nodes = sorted(set(g) | {w for ws in g.values() for w in ws})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(g.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(g.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


STMTS = imports(modules())


def test_the_walker_sees_the_imports():
    """A walker that found no edges would pass the tests below vacuously."""
    top = graph(STMTS, function_level=False)
    assert "ordebug_lib.policy.engine" in top["ordebug_lib.policy.generation"]
    assert "ordebug_lib.policy.decoding" in top["ordebug_lib.policy.engine"]
    assert "ordebug_lib.policy.generation" not in top["ordebug_lib.policy.engine"]
    assert {"ordebug_lib.training", "ordebug_lib.training.rollouts"} <= graph(STMTS, True)["ordebug_lib.policy.engine"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_at_module_level():
    assert cycles(graph(STMTS, function_level=False)) == []


def test_function_level_imports_close_only_the_known_loops():
    assert cycles(graph(STMTS, function_level=True, skip=KNOWN_FUNCTION_LEVEL_LOOPS)) == []
    for known in KNOWN_FUNCTION_LEVEL_LOOPS:  # each still closes a loop; one that does not leaves the list
        rest = KNOWN_FUNCTION_LEVEL_LOOPS - {known}
        assert cycles(graph(STMTS, function_level=True, skip=rest)), f"{known} closes no loop any more"


if __name__ == "__main__":
    for level in (False, True):
        print("with function-level imports:" if level else "module level:", cycles(graph(STMTS, level)) or "none")
