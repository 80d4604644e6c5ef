"""The architecture rules of issue 17, checked on the package's source with ``ast`` (nothing imported).

Each rule is a test whose failure message lists every offender, so a change that
breaks a rule says where. The definitions, stated once so that they can be argued with:

- *function length*: ``end_lineno - lineno + 1`` of every ``def`` (methods and nested
  functions too), which counts the docstring and leaves out the decorators.
- *import cycle*: a cycle in the graph of module-level imports between ``neuralbench``
  modules. Module level means anywhere but inside a function (so ``if TYPE_CHECKING:``,
  ``try:`` and class bodies count; an import inside a function is how a lazy import is
  done and is allowed). An import names the module it names: ``import neuralbench.a.b``
  and ``from neuralbench.a import b`` (``b`` a module) point at ``neuralbench.a.b``,
  ``from neuralbench.a import f`` (``f`` not a module) at ``neuralbench.a``; the package
  ``__init__`` that Python runs on the way is not an edge.
- *distributed API*: an import of ``distributed``, ``dask.distributed`` (or ``from dask
  import distributed``) anywhere in a module, except a bare ``import distributed`` whose
  name the module never uses (imported for its side effect, e.g. setting up its
  loggers). Allowed in ``neuralbench/pipeline.py``, ``neuralbench/pipeline/`` and
  ``neuralbench/cluster.py``.
- *logic* (a module that needs a mirrored test): at least one non-trivial ``def``, one
  whose body, docstring aside, is more than a single ``return``/``raise``/``pass``/``...``.
  ``neuralbench/a/b.py`` is mirrored by ``tests/a/test_b.py`` (a leading underscore of
  the module dropped); a package's ``neuralbench/a/__init__.py`` by ``tests/a/test_a.py``
  (``neuralbench/__init__.py`` by ``tests/test_neuralbench.py``).
- *mutable instance attribute*: an attribute ``x`` of ``self`` that a method other than
  ``__init__``, ``__post_init__`` or ``__setstate__`` rebinds (``self.x = …``, ``self.x
  += …``, ``del self.x``, ``for self.x in …``) or changes in place (``self.x[k] = …``,
  ``del self.x[k]``, or ``self.x.m(…)`` with ``m`` a mutating method of list, dict, set
  or deque and ``x`` built as one of those in ``__init__`` or declared one in the class
  body, so that ``self.tracker.add(…)`` on some other object is not counted). Fields a
  caller could assign from outside are not counted: ``ast`` cannot tell whose object
  ``obj.x = …`` changes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "neuralbench"
MAX_LINES = 60
MAX_MUTABLE = 5
DISTRIBUTED_OK = ("neuralbench/pipeline.py", "neuralbench/pipeline/", "neuralbench/cluster.py")
CONSTRUCTION = {"__init__", "__post_init__", "__setstate__"}
MUTATORS = {
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault",
    "add", "discard", "sort", "reverse", "appendleft", "popleft", "extendleft", "rotate",
    "difference_update", "intersection_update", "symmetric_difference_update",
}  # fmt: skip
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


# --- reading the package ------------------------------------------------------------------------


@cache
def _modules(repo: Path = REPO) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file of ``repo``'s package."""
    out = {}
    for path in sorted((repo / PACKAGE).rglob("*.py")):
        parts = path.relative_to(repo).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _rel(path: Path, repo: Path = REPO) -> str:
    return path.relative_to(repo).as_posix()


def _outside_functions(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` that is not inside a function or lambda."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (*FUNCTIONS, ast.Lambda)):
            continue
        yield child
        yield from _outside_functions(child)


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imported(node: ast.Import | ast.ImportFrom, module: str, path: Path, known: dict) -> Iterator[str]:
    """The module names an import statement names (absolute, relative resolved)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = _package_of(module, path).split(".")
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base


# --- the rules ----------------------------------------------------------------------------------


def long_functions(repo: Path = REPO) -> list[str]:
    """``file:line name (n lines)`` of every def over :data:`MAX_LINES` lines."""
    out = []
    for path in _modules(repo).values():
        for node in ast.walk(_tree(path)):
            if isinstance(node, FUNCTIONS) and (n := node.end_lineno - node.lineno + 1) > MAX_LINES:
                out.append(f"{_rel(path, repo)}:{node.lineno} {node.name} ({n} lines)")
    return out


def import_graph(repo: Path = REPO) -> dict[str, dict[str, int]]:
    """``{module: {imported neuralbench module: line}}`` of module-level imports."""
    modules = _modules(repo)
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for module, path in modules.items():
        for node in _outside_functions(_tree(path)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported(node, module, path, modules):
                    if name in modules:
                        graph[module].setdefault(name, node.lineno)
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` that hold a cycle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = [stack.pop()]
            while component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1 or v in graph[v]:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_distributed(name: str) -> bool:
    return name == "distributed" or name.startswith(("distributed.", "dask.distributed"))


def distributed_imports(path: Path) -> list[int]:
    """Lines of ``path`` that import dask.distributed's API (see the module docstring)."""
    tree = _tree(path)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.partition(".")[0]
                if _is_distributed(alias.name) and (alias.asname or bound in used):
                    lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [f"{node.module}.{a.name}" for a in node.names]
            if _is_distributed(node.module or "") or any(_is_distributed(n) for n in names):
                lines.append(node.lineno)
    return sorted(set(lines))


def distributed_outside(repo: Path = REPO) -> list[str]:
    """``file:line`` of every distributed import outside the pipeline and the cluster module."""
    return [
        f"{_rel(path, repo)}:{line}"
        for path in _modules(repo).values()
        if not _rel(path, repo).startswith(DISTRIBUTED_OK)
        for line in distributed_imports(path)
    ]


def _trivial(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return True
    one = body[0]
    ellipsis = isinstance(one, ast.Expr) and isinstance(one.value, ast.Constant)
    return len(body) == 1 and (isinstance(one, (ast.Return, ast.Raise, ast.Pass)) or ellipsis)


def has_logic(path: Path) -> bool:
    """True when the module holds a non-trivial function or method."""
    return any(isinstance(n, FUNCTIONS) and not _trivial(n) for n in ast.walk(_tree(path)))


def mirror_of(path: Path, repo: Path = REPO) -> Path:
    """The test module that mirrors a package module."""
    parts = path.relative_to(repo / PACKAGE).parts
    if parts[-1] == "__init__.py":
        name = parts[-2] if len(parts) > 1 else PACKAGE
        return repo.joinpath("tests", *parts[:-1], f"test_{name}.py")
    return repo.joinpath("tests", *parts[:-1], f"test_{Path(parts[-1]).stem.lstrip('_')}.py")


def unmirrored(repo: Path = REPO) -> list[str]:
    """``module -> missing test module`` for every module with logic and no mirror."""
    return [
        f"{_rel(path, repo)} -> {_rel(mirror_of(path, repo), repo)}"
        for path in _modules(repo).values()
        if has_logic(path) and not mirror_of(path, repo).exists()
    ]


def _self_attr(node: ast.AST, me: str) -> str | None:
    """``x`` when ``node`` is ``self.x``, ``self.x[k]`` or ``self.x[k][j]`` (``self`` named ``me``)."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == me:
        return node.attr
    return None


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        found = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
        found = [node.target]
    elif isinstance(node, ast.Delete):
        found = list(node.targets)
    else:
        return []
    flat: list[ast.AST] = []
    while found:
        t = found.pop()
        if isinstance(t, (ast.Tuple, ast.List)):
            found += t.elts
        else:
            flat.append(t.value if isinstance(t, ast.Starred) else t)
    return flat


CONTAINERS = {"dict", "list", "set", "deque", "defaultdict", "OrderedDict", "Counter", "Dict", "List", "Set"}
DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


def _first_arg(method: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The name of ``self`` in a method, None for a static or class method."""
    args = method.args.posonlyargs + method.args.args
    plain = not any(
        isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in method.decorator_list
    )
    return args[0].arg if args and plain else None


def _is_container(value: ast.AST | None) -> bool:
    """A list / dict / set / deque display, comprehension, constructor or annotation."""
    while isinstance(value, (ast.Subscript, ast.Attribute)):  # dict[str, int], collections.deque
        value = value.value if isinstance(value, ast.Subscript) else ast.Name(value.attr)
    if isinstance(value, ast.Call):
        if any(k.arg == "default_factory" and _is_container(k.value) for k in value.keywords):
            return True  # field(default_factory=dict)
        value = value.func
        while isinstance(value, ast.Attribute):
            value = ast.Name(value.attr)
    return isinstance(value, DISPLAYS) or (isinstance(value, ast.Name) and value.id in CONTAINERS)


def containers(cls: ast.ClassDef) -> set[str]:
    """Attributes declared as containers in the class body or built as one at construction."""
    out = {
        n.target.id
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
        and (_is_container(n.annotation) or _is_container(n.value))
    }  # fmt: skip
    for method in cls.body:
        if isinstance(method, FUNCTIONS) and method.name in CONSTRUCTION and (me := _first_arg(method)):
            for node in ast.walk(method):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target, value in (p for t in targets for p in _pairs(t, node.value)):
                        if isinstance(target, ast.Attribute) and _is_container(value):
                            out.add(_self_attr(target, me))
    return out - {None}


def _pairs(target: ast.AST, value: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
    """``(target, value)`` pairs of an assignment, tuples unpacked into tuples paired up."""
    both = isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
    if both and len(target.elts) == len(value.elts):
        for t, v in zip(target.elts, value.elts, strict=True):
            yield from _pairs(t, v)
    else:
        yield target, value


def mutated_attributes(method: ast.FunctionDef | ast.AsyncFunctionDef, boxes: set[str]) -> set[str]:
    """Attributes of ``self`` that ``method`` rebinds or changes in place (``boxes``: the containers)."""
    me, out = _first_arg(method), set()
    if me is None:
        return out
    for node in ast.walk(method):
        for target in _targets(node):
            out.add(_self_attr(target, me))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
            name = _self_attr(node.func.value, me)
            out.add(name if name in boxes else None)
    return out - {None}


def mutable_classes(repo: Path = REPO) -> list[str]:
    """``file:line Class: attributes`` of every class with over :data:`MAX_MUTABLE` mutable ones."""
    out = []
    for path in _modules(repo).values():
        for cls in (n for n in ast.walk(_tree(path)) if isinstance(n, ast.ClassDef)):
            boxes, attrs = containers(cls), set()
            for method in cls.body:
                if isinstance(method, FUNCTIONS) and method.name not in CONSTRUCTION:
                    attrs |= mutated_attributes(method, boxes)
            if len(attrs) > MAX_MUTABLE:
                out.append(f"{_rel(path, repo)}:{cls.lineno} {cls.name}: {', '.join(sorted(attrs))}")
    return out


# --- the tests ----------------------------------------------------------------------------------


def test_no_function_over_60_lines():
    offenders = long_functions()
    message = f"functions over {MAX_LINES} lines (split them by meaning):\n" + "\n".join(offenders)
    assert not offenders, message


def test_no_import_cycle():
    graph = import_graph()
    cycles = [  # each cycle, then the imports that close it
        " <-> ".join(c)
        + "\n    "
        + "; ".join(f"{a} imports {b} (line {graph[a][b]})" for a in c for b in sorted(graph[a]) if b in c)
        for c in import_cycles(graph)
    ]
    assert not cycles, "import cycles among neuralbench modules (module level):\n" + "\n".join(cycles)


def test_distributed_api_only_in_the_pipeline_and_the_cluster_module():
    offenders = distributed_outside()
    assert not offenders, (
        "dask.distributed imported outside pipeline and cluster.py (stages return values or lazy arrays):\n"
        + "\n".join(offenders)
    )


def test_every_module_with_logic_has_a_mirrored_test_module():
    missing = unmirrored()
    assert not missing, "modules with logic and no mirrored test module:\n" + "\n".join(missing)


def test_no_class_with_more_than_5_mutable_instance_attributes():
    offenders = mutable_classes()
    assert not offenders, (
        f"classes with over {MAX_MUTABLE} mutable instance attributes (make the state a value):\n"
        + "\n".join(offenders)
    )


# --- the checks themselves, on a planted package --------------------------------------------------

PLANTED = {
    "neuralbench/__init__.py": "",
    "neuralbench/a.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from neuralbench.b import B\n\n"
        "def long():\n" + "    x = 1\n" * 60 + "\n@decorated\n@twice\ndef sixty():\n" + "    x = 1\n" * 59
    ),
    "neuralbench/b.py": "from neuralbench import a\n",  # closes a <-> b (a's side under TYPE_CHECKING)
    "neuralbench/c.py": "def lazy():\n    from neuralbench import d\n    return d\n",
    "neuralbench/d.py": "from . import c\n",  # d -> c only: c imports d inside a function
    "neuralbench/e.py": (
        "import distributed  # its loggers\nimport dask.array as da\n\n"
        "def submit():\n    from dask.distributed import Client\n    return Client()\n"
    ),
    "neuralbench/f.py": "from dask import distributed as dd\nfrom dask import config\n",
    "neuralbench/cluster.py": "from distributed import Client\n",
    "neuralbench/pipeline/__init__.py": "from distributed import as_completed\n",
    "neuralbench/pipeline/driver.py": "import distributed\nclient = distributed.Client()\n",
    "neuralbench/_g.py": "def g(x):\n    y = x + 1\n    return y\n",
    "neuralbench/h.py": (
        "from dataclasses import dataclass\n@dataclass\nclass H:\n    n: int\n\n"
        'def h():\n    """Doc."""\n    return 1\n'
    ),
    "neuralbench/sub/__init__.py": "def pick(x):\n    if x:\n        return 1\n    return 2\n",
    "neuralbench/m.py": (
        "class Six:\n    def __init__(self):\n        self.c, self.d, self.keep = {}, [], []\n"
        "    def step(self, k):\n        self.a = k\n        self.b += 1\n        self.c[k] = 1\n"
        "        self.d.append(k)\n        del self.e\n        for self.f in range(2):\n            pass\n"
        "        self.keep.count(k)\n"
        "class Five:\n    def __init__(self, tracker):\n        self.tracker = tracker\n"
        "    def step(self, k):\n        self.a, (self.b, *self.c) = k\n        self.d = self.e = k\n"
        "        self.tracker.add(k)\n"
    ),
    "tests/test_a.py": "",
    "tests/test_c.py": "",
    "tests/test_e.py": "",
    "tests/test_g.py": "",
    "tests/test_m.py": "",
}


def test_the_checks_find_exactly_what_was_planted(tmp_path):
    for name, text in PLANTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert long_functions(tmp_path) == ["neuralbench/a.py:5 long (61 lines)"]
    graph = import_graph(tmp_path)
    assert graph["neuralbench.d"] == {"neuralbench.c": 1} and graph["neuralbench.c"] == {}
    assert import_cycles(graph) == [["neuralbench.a", "neuralbench.b"]]
    assert distributed_outside(tmp_path) == ["neuralbench/e.py:5", "neuralbench/f.py:1"]
    assert unmirrored(tmp_path) == ["neuralbench/sub/__init__.py -> tests/sub/test_sub.py"]
    assert mutable_classes(tmp_path) == ["neuralbench/m.py:1 Six: a, b, c, d, e, f"]
