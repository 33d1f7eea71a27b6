"""Dependencies point one way: the library (`src/reglink`) never imports the orchestration
package (`reglink_dagster`); only the command line reaches it, in its `run` and `demo`
commands. Read from the source (every import statement, nested ones too), not from what
happens to be loaded."""
from __future__ import annotations

import ast
from pathlib import Path

import reglink
import reglink_dagster

LIBRARY = Path(reglink.__file__).resolve().parent
APP = reglink_dagster.__name__
# the one library module allowed to reach the app package: the console entry point
ENTRY_POINT = LIBRARY / "cli.py"


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`, at any depth (lazy imports included)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def _reaches_app(module: str) -> bool:
    return module == APP or module.startswith(APP + ".")


def test_the_parser_sees_nested_and_aliased_imports():
    src = ("import os\n"
           "def f():\n"
           "    from reglink_dagster.orchestration import execute\n"
           "    import reglink_dagster.defs as d\n")
    found = [m for _, m in imported_modules(src) if _reaches_app(m)]
    assert found == ["reglink_dagster.orchestration", "reglink_dagster.defs"]
    assert not _reaches_app("reglink_dagsterish")


def test_no_library_module_imports_the_orchestration_package():
    offending = []
    files = sorted(LIBRARY.rglob("*.py"))
    assert len(files) > 50  # the whole library is read, not an empty folder
    for path in files:
        if path == ENTRY_POINT:
            continue
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if _reaches_app(module):
                offending.append(f"{path.relative_to(LIBRARY.parent)}:{line} imports {module}")
    assert offending == []


def test_the_command_line_reaches_it_only_in_run_and_demo():
    tree = ast.parse(ENTRY_POINT.read_text(encoding="utf-8"))
    top = [m for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
           for _, m in imported_modules(ast.unparse(n))]
    assert not any(_reaches_app(m) for m in top)  # `reglink --help` loads no Dagster
    users = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
             and any(_reaches_app(m) for _, m in imported_modules(ast.unparse(f)))}
    assert users == {"run", "demo"}
