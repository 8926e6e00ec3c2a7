"""The package layout keeps the flow it claims (docs/ARCHITECTURE.md): model -> blocks -> features ->
measurements -> predictor -> candidates -> retrained TRNs -> report.  Read from the sources (nothing imported):
no import cycle, latmodel never imports trimmer, latmodel's sub-packages import only upstream, no private name
crosses a module, trimmer uses only names in latmodel's ``__all__``, every module is under the size limit."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("latmodel", "trimmer")
#: A module longer than this does more than one job.
MAX_LINES = 500
#: latmodel's sub-packages in flow order: each imports only those before it (and latmodel's shared modules).
FLOW = ("graph", "measure", "predict")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _exported(name: str) -> set[str]:
    """A module's ``__all__``: a literal, or ``sorted(_EXPORTS)`` of a lazy package ``__init__``."""
    values: dict[str, object] = {}
    for node in TREES[name].body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            if target == "_EXPORTS":
                values[target] = ast.literal_eval(node.value)
            elif target == "__all__":
                if isinstance(node.value, ast.Call):  # sorted(_EXPORTS)
                    return set(values[node.value.args[0].id])
                return set(ast.literal_eval(node.value))
    raise AssertionError(f"{name} has no __all__")


def _imports(name: str):
    """(imported module, imported name or None) for every import in ``name``, at any depth."""
    is_pkg = MODULES[name].name == "__init__.py"
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, None
                elif target in MODULES:
                    yield target, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, None


EDGES = {name: sorted({t for t, _ in _imports(name) if t != name}) for name in MODULES}


def test_no_import_cycle():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in EDGES[node]:
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in MODULES:
        if name not in state:
            visit(name)


def _stage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "latmodel" and parts[1] in FLOW else None


def test_imports_follow_the_flow():
    wrong = []
    for name, targets in EDGES.items():
        for target in targets:
            if name.startswith("latmodel") and target.startswith("trimmer"):
                wrong.append(f"{name} imports {target}: latmodel never imports trimmer")
            mine, theirs = _stage(name), _stage(target)
            if mine and theirs and FLOW.index(theirs) > FLOW.index(mine):
                wrong.append(f"{name} imports {target}: latmodel.{mine} comes before latmodel.{theirs}")
    assert not wrong, "\n".join(wrong)


def test_no_private_name_crosses_a_module_and_trimmer_uses_latmodel_api():
    wrong = []
    for name in MODULES:
        for target, imported in _imports(name):
            if imported is None or target == name:
                continue
            if imported.startswith("_") and not imported.startswith("__"):
                wrong.append(f"{name} imports the private {target}.{imported}")
            elif name.startswith("trimmer") and target.startswith("latmodel") and imported not in _exported(target):
                wrong.append(f"{name} imports {target}.{imported}, which is not in its __all__")
    assert not wrong, "\n".join(wrong)


def test_every_module_declares_its_api_and_stays_small():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"
    for name in MODULES:
        _exported(name)
