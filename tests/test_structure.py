"""The house: no import cycles, no oversized modules, and a checkout that imports as the package.

The import graph is read from the source text (every ``import`` and ``from ...
import``, at module level and inside functions, relative ones too), with the
folders mapped to packages as pyproject.toml's ``package-dir`` says (devices/
is crossbar.devices, models/ is crossbar.models).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 450

# Modules allowed over MAX_LINES for now, each with the reason. This list may only
# shrink: the test fails when a listed module is back under the limit.
LONG_MODULES: dict[str, str] = {}  # module -> why it may stay long for now (the list only shrinks)


def package_dirs(root: Path) -> dict[str, str]:
    """pyproject.toml's ``[tool.setuptools] package-dir``: package name -> folder."""
    text = (root / "pyproject.toml").read_text()
    table = re.search(r"^package-dir\s*=\s*\{([^}]*)\}", text, re.M)
    assert table, "pyproject.toml has no package-dir table"
    return dict(re.findall(r'"([\w.]+)"\s*=\s*"([\w./-]+)"', table.group(1)))


def modules(root: Path, dirs: dict[str, str]) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    found = {}
    for package, folder in dirs.items():
        base = root / folder
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("").parts
            name = ".".join((package, *rel))
            found[name.removesuffix(".__init__")] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` names or lies in (None: outside the package)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in its text; relative imports resolved)."""
    graph: dict[str, set[str]] = {}
    for mod, path in known.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(_resolve(a.name, known) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for a in node.names:  # "from pkg import sub" imports the module pkg.sub
                    targets.add(_resolve(f"{base}.{a.name}", known) if f"{base}.{a.name}" in known
                                else _resolve(base, known))
        graph[mod] = {t for t in targets if t is not None and t != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One concrete cycle [a, b, ..., a] per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in components:
        start = min(comp)
        paths = {start: [start]}
        frontier = [start]
        while frontier:  # shortest way back to start inside the component
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & comp):
                    if w == start:
                        out.append(paths[v] + [start])
                        nxt = []
                        break
                    if w not in paths:
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
                else:
                    continue
                break
            frontier = nxt
    return sorted(out)


def _package_graph():
    return import_graph(modules(ROOT, package_dirs(ROOT)))


# ----------------------------------------------------------------------------- the package


def test_package_has_no_import_cycles():
    graph = _package_graph()
    assert {"crossbar.devices", "crossbar.models", "crossbar.experiments.budget",
            "crossbar.read"} <= set(graph)
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_reports_never_import_experiments():
    graph = _package_graph()
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.startswith("crossbar.report")
                 for t in ts if t.startswith("crossbar.experiments"))
    assert not bad, bad


def test_no_module_over_the_line_limit():
    dirs = package_dirs(ROOT)
    over = {}
    for path in modules(ROOT, dirs).values():
        rel = path.relative_to(ROOT).as_posix()
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            over[rel] = n
    unexpected = {f: n for f, n in over.items() if f not in LONG_MODULES}
    assert not unexpected, f"modules over {MAX_LINES} lines (split them along their seams): {unexpected}"
    done = sorted(set(LONG_MODULES) - set(over))
    assert not done, f"back under {MAX_LINES} lines or gone: remove {done} from LONG_MODULES"


# ----------------------------------------------------------------------------- the checker itself


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_finds_relative_function_level_and_mapped_cycles(tmp_path):
    _write(tmp_path, {
        "pyproject.toml": '[tool.setuptools]\npackage-dir = { "pkg" = "pkg", "pkg.data" = "data" }\n',
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import f\n",  # relative, module level
        "pkg/b.py": "def f():\n    from pkg import a\n",  # absolute "from pkg import module", in a function
        "pkg/c.py": "import pkg.data.load\n",
        "data/__init__.py": "",
        "data/load.py": "from ..c import x\n",  # a top-level folder mapped into the package
        "pkg/d.py": "from . import a\nimport numpy\n",  # no cycle through d; outside imports ignored
    })
    dirs = package_dirs(tmp_path)
    assert dirs == {"pkg": "pkg", "pkg.data": "data"}
    graph = import_graph(modules(tmp_path, dirs))
    assert graph["pkg.data.load"] == {"pkg.c"} and graph["pkg.d"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.c", "pkg.data.load", "pkg.c"]]


# ----------------------------------------------------------------------------- a checkout imports


def test_checkout_imports_without_an_editable_install():
    """What Python sees from the repository root with a normal install: ./crossbar shadows it.

    ``-S`` skips the .pth files, so the editable install's finder is absent
    and only the checkout on sys.path[0] and the dependencies remain.
    """
    deps = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    code = (f"import sys; sys.path[1:1] = {deps!r}; import crossbar; import crossbar.models; "
            "print(crossbar.devices.load('pcm').name); print(crossbar.devices.__file__); "
            "print(crossbar.models.__file__); print('crossbar_sim_finder' in repr(sys.meta_path))")
    run = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    name, devices_file, models_file, editable = run.stdout.split()
    assert name == "pcm" and editable == "False"
    assert Path(devices_file) == ROOT / "devices" / "__init__.py"
    assert Path(models_file) == ROOT / "models" / "__init__.py"


@pytest.mark.parametrize("layout", ["checkout", "wheel", "foreign"])
def test_layout_finder_only_for_a_checkout(tmp_path, monkeypatch, layout):
    """A checkout gets the finder; an installed wheel (subpackages inside) or another folder does not."""
    from crossbar import _layout

    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path
                                           if not isinstance(f, _layout._TopLevelFinder)])
    pkg = tmp_path / "crossbar"
    pkg.mkdir()
    if layout == "checkout":
        (tmp_path / "pyproject.toml").write_text("")
    for name in _layout.TOP_LEVEL:
        folder = pkg / name if layout == "wheel" else tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
    before = list(sys.meta_path)
    _layout.install(pkg)
    if layout != "checkout":
        assert sys.meta_path == before
        return
    finder = sys.meta_path[0]
    assert isinstance(finder, _layout._TopLevelFinder) and sys.meta_path[1:] == before
    assert Path(finder.find_spec("crossbar.devices").origin) == tmp_path / "devices" / "__init__.py"
    assert finder.find_spec("crossbar.nn") is None and finder.find_spec("crossbar.devices.loader") is None
    _layout.install(pkg)
    assert sys.meta_path[1:] == before  # installed once


def test_every_package_folder_is_in_the_wheel():
    """pyproject.toml lists the packages a wheel holds: a subpackage missing there imports from a
    checkout but not from an installed wheel (make wheel-check)."""
    table = re.search(r"^packages\s*=\s*\[([^\]]*)\]", (ROOT / "pyproject.toml").read_text(), re.M)
    listed = set(re.findall(r'"(crossbar[\w.]*)"', table.group(1)))
    dirs = package_dirs(ROOT)
    found = {n for n, p in modules(ROOT, dirs).items() if p.name == "__init__.py"}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
