"""docs/architecture.md names every room of bridge/, and the walls it describes hold.

The walls are checked on the source (every import statement, those inside functions
too, relative ones resolved), not by importing: an import that only runs inside a
command would otherwise go unseen.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / "bridge"
DOC = ROOT / "docs" / "architecture.md"

# What speaks HTTP: segments/ must not import any of it.
HTTP_MODULES = ("requests", "urllib3", "httpx", "aiohttp", "http.client", "urllib.request",
                "bridge.magento")


@dataclass(frozen=True)
class Import:
    path: Path  # the importing file
    line: int
    module: str  # absolute dotted name; ``from a import b`` also gives ``a.b``
    within: tuple[str, ...]  # the functions (and classes) the statement sits in

    def __str__(self) -> str:
        where = f" (in {'.'.join(self.within)})" if self.within else ""
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}: {self.module}{where}"


def _module_name(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import in ``path`` (a file under ``root``, the folder holding the top
    package), with the dotted names it brings in."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path, root)
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[Import] = []

    def visit(node: ast.AST, within: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, (*within, child.name))
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(path, child.lineno, alias.name, within))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[:len(package) - (child.level - 1)]
                    module = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    module = child.module or ""
                found.append(Import(path, child.lineno, module, within))
                for alias in child.names:
                    if alias.name != "*":
                        found.append(Import(path, child.lineno, f"{module}.{alias.name}",
                                            within))
            visit(child, within)

    visit(tree, ())
    return found


def _under(module: str, prefixes: tuple[str, ...] | str) -> bool:
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _sources(*under: str) -> list[Path]:
    files = sorted(BRIDGE.rglob("*.py"))
    if not under:
        return files
    return [f for f in files if any(f.is_relative_to(BRIDGE / u) for u in under)]


def _all_imports(*under: str) -> list[Import]:
    return [i for f in _sources(*under) for i in imports_of(f, ROOT)]


# --- the rooms are in the doc -------------------------------------------------------------


def rooms() -> tuple[list[str], list[str]]:
    """bridge/'s packages (every folder holding Python files, as ``sync/``,
    ``segments/loader/``) and its top-level modules (``pipeline.py``)."""
    packages = sorted({str(f.parent.relative_to(BRIDGE)) for f in BRIDGE.rglob("*.py")
                       if f.parent != BRIDGE and "__pycache__" not in f.parts})
    modules = sorted(f.name for f in BRIDGE.glob("*.py") if not f.name.startswith("__"))
    return packages, modules


def test_the_doc_names_every_package_and_top_level_module() -> None:
    text = DOC.read_text(encoding="utf-8")
    packages, modules = rooms()
    assert "sync" in packages and "segments/loader" in packages and "cli.py" in modules
    missing = [f"{p}/" for p in packages
               if not re.search(rf"(?<![\w/.-])(bridge/)?{re.escape(p)}/", text)]
    missing += [m for m in modules
                if not re.search(rf"(?<![\w/.-])(bridge/)?{re.escape(m)}(?!\w)", text)]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"


def test_the_doc_stands_alone() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert not re.search(r"\bSPEC\b|shared/|ARCHITECTURE\.md", text)


# --- the walls -----------------------------------------------------------------------------


def test_the_scan_sees_local_relative_and_from_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "bridge" / "segments"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text(
        "import os\n"
        "from ..magento import client\n"
        "def f():\n"
        "    class C:\n"
        "        def g(self):\n"
        "            import requests.adapters\n"
        "from bridge import sandbox\n")
    got = {(i.line, i.module, i.within) for i in imports_of(pkg / "x.py", tmp_path)}
    assert got == {
        (1, "os", ()),
        (2, "bridge.magento", ()), (2, "bridge.magento.client", ()),
        (6, "requests.adapters", ("f", "C", "g")),
        (7, "bridge", ()), (7, "bridge.sandbox", ()),
    }


def test_segments_never_touch_http() -> None:
    """segments/ evaluates inside the store; only magento/ speaks HTTP."""
    bad = [str(i) for i in _all_imports("segments") if _under(i.module, HTTP_MODULES)]
    assert not bad, "segments/ imports HTTP code:\n" + "\n".join(bad)


def test_magento_knows_nothing_of_segments_or_push() -> None:
    bad = [str(i) for i in _all_imports("magento")
           if _under(i.module, ("bridge.segments", "bridge.push", "bridge.pipeline"))]
    assert not bad, "magento/ imports a later stage:\n" + "\n".join(bad)


# The sandbox CLI command's own code outside bridge/sandbox/: its option parsers.
SANDBOX_COMMAND = {"cli.py": ("_sandbox_arg",)}


def test_only_the_demo_and_the_sandbox_command_import_the_sandbox() -> None:
    bad = []
    for i in _all_imports():
        rel = i.path.relative_to(BRIDGE)
        if not _under(i.module, "bridge.sandbox") or rel.parts[0] in ("sandbox", "demo.py"):
            continue
        allowed = SANDBOX_COMMAND.get(str(rel), ())
        if not (i.within and i.within[0] in allowed):
            bad.append(str(i))
    assert not bad, "imports of bridge.sandbox outside the demo and sandbox command:\n" + \
        "\n".join(bad)


def test_the_commands_load_the_sandbox_only_for_demo_and_sandbox() -> None:
    from bridge.cli import COMMANDS

    assert COMMANDS["sandbox"].startswith("bridge.sandbox.")
    others = {name: target for name, target in COMMANDS.items()
              if name not in ("sandbox", "demo") and _under(target.split(":")[0],
                                                           "bridge.sandbox")}
    assert not others


def _loaded_after_importing(names: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules under ``prefixes`` that importing ``names`` loads, in a fresh process."""
    script = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return [m for m in ast.literal_eval(out.stdout.strip())
            if _under(m, tuple(p.rstrip(".") for p in prefixes))]


def _importable(*under: str) -> list[str]:
    return [".".join(_module_name(f, ROOT)) for f in _sources(*under)
            if not f.is_relative_to(BRIDGE / "store" / "migrations")
            and f.name != "__main__.py"]


def test_importing_segbridge_loads_no_sandbox() -> None:
    """At run time too: every module but the sandbox's and the demo imports without
    loading the sandbox."""
    names = [n for n in _importable() if not _under(n, ("bridge.sandbox", "bridge.demo"))]
    assert len(names) > 50
    assert _loaded_after_importing(names, ("bridge.sandbox",)) == []


def test_segments_never_import_the_sync() -> None:
    """segments/ reads the store the sync fills, never the sync itself (which speaks
    HTTP): what the evaluation needs from the store is bridge/segments/requires.py."""
    bad = [str(i) for i in _all_imports("segments") if _under(i.module, "bridge.sync")]
    assert not bad, "segments/ imports the sync:\n" + "\n".join(bad)


def test_importing_segments_loads_no_http() -> None:
    """At run time too: importing segments/ loads neither the client nor an HTTP library."""
    loaded = _loaded_after_importing(
        _importable("segments"), ("bridge.magento", "requests", "urllib3", "httpx", "aiohttp"))
    assert loaded == [], loaded[:5]


@pytest.mark.parametrize("stage", ["bridge.sync", "bridge.segments.evaluate"])
def test_push_only_plans_and_applies(stage: str) -> None:
    """push/ neither syncs nor evaluates: bridge/pipeline.py chains the stages."""
    bad = [str(i) for i in _all_imports("push") if _under(i.module, stage)]
    assert not bad, f"push/ imports {stage}:\n" + "\n".join(bad)


# --- import circles ------------------------------------------------------------------------

# The circles there are (every import counted, those inside functions and under
# TYPE_CHECKING too), each broken at run time by a function-local or type-only import.
# Remove one when it goes; never add one: import from a lower room instead.
KNOWN_CIRCLES = [
    {"bridge.lock", "bridge.runs"},
    {"bridge.sync.module_data", "bridge.sync.runner"},
    {"bridge.push.apply", "bridge.push.bulk", "bridge.push.catalog", "bridge.push.cms",
     "bridge.push.context", "bridge.push.groups", "bridge.push.rules"},
]


def import_circles() -> list[set[str]]:
    """The strongly connected groups of bridge/'s modules (more than one module each)."""
    modules = {".".join(_module_name(f, ROOT)): f for f in _sources()
               if not f.is_relative_to(BRIDGE / "store" / "migrations")}

    def target(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = {target(i.module) for i in imports_of(path, ROOT)}
        # a module importing its own package's __init__ is no circle
        graph[name] = {t for t in found if t and t != name and not name.startswith(t + ".")}
    reach = {}
    for start in graph:  # 130-odd modules: a walk from each is cheap enough
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        reach[start] = seen
    circles: list[set[str]] = []
    for name in sorted(graph):
        group = {name} | {o for o in reach[name] if name in reach[o]}
        if len(group) > 1 and group not in circles:
            circles.append(group)
    return circles


def test_no_new_import_circle() -> None:
    new = [sorted(c) for c in import_circles() if not any(c <= k for k in KNOWN_CIRCLES)]
    assert not new, "new import circles (import from a lower room instead):\n" + \
        "\n".join(" <-> ".join(c) for c in new)
