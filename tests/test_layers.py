"""The architecture of docs/architecture.md, checked: imports flow one way.

The client's layers are types <- SSE <- transports and the send loop <- streams <-
resources <- clients <- the command line; a module imports its own layer or lower ones.
The server imports nothing of the client, at import time too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rillet"

# Lowest first. A module's layer is that of the longest prefix of its name listed here.
LAYERS: list[tuple[str, ...]] = [
    ("rillet._version", "rillet._constants", "rillet._types", "rillet._exceptions"),
    ("rillet._models", "rillet.types", "rillet._encode", "rillet._official", "rillet._parsing"),
    ("rillet._sse",),
    ("rillet._retry", "rillet._transports", "rillet._send"),
    ("rillet._streams",),
    ("rillet.resources", "rillet._response"),
    ("rillet._client",),
    ("rillet", "rillet.cli", "rillet.__main__", "rillet.bench"),
]
SERVER = "rillet.server"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(name: str) -> int:
    best, rank = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank >= 0, f"{name} is in no layer: add it to LAYERS and docs/architecture.md"
    return rank


def runtime_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for each rillet import outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "rillet"]


def resolve(name: str) -> str:
    """`rillet.x.Name` -> the module `rillet.x`; a module name stays as it is."""
    while name and not (
        (PACKAGE.parent / (name.replace(".", "/") + ".py")).is_file()
        or (PACKAGE.parent / name.replace(".", "/") / "__init__.py").is_file()
    ):
        name = name.rpartition(".")[0]
    return name


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path: Path) -> None:
    importer = module_name(path)
    for line, imported in runtime_imports(path):
        target = resolve(imported)
        where = f"{path.relative_to(PACKAGE)}:{line} imports {target}"
        if importer.startswith(SERVER):
            assert target.startswith(SERVER) or target == "rillet._version", where
            continue
        assert not target.startswith(SERVER) or importer.startswith("rillet.cli"), where
        if target.startswith(SERVER):
            continue
        assert layer_of(target) <= layer_of(importer), f"{where}, a higher layer"


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return {name for name in result.stdout.split() if name.split(".")[0] == "rillet"}


@pytest.mark.parametrize(
    "statement",
    ["import rillet.server.app", "import rillet.server", "from rillet.server.cli import main"],
)
def test_importing_the_server_loads_no_client_module(statement: str) -> None:
    pytest.importorskip("starlette")
    loaded = loaded_after(statement)
    client = {
        n for n in loaded if not n.startswith(SERVER) and n not in ("rillet", "rillet._version")
    }
    assert not client, f"{statement} loaded client modules: {sorted(client)}"
    assert SERVER in loaded


def test_importing_the_client_loads_no_server_module() -> None:
    loaded = loaded_after("from rillet import OpenAI, AsyncOpenAI; import rillet.types")
    assert "rillet._client" in loaded
    assert not {n for n in loaded if n.startswith(SERVER)}


def test_import_rillet_alone_is_light() -> None:
    assert loaded_after("import rillet") == {"rillet", "rillet._version"}


def test_every_public_name_resolves() -> None:
    import rillet

    for name in rillet.__all__:
        assert getattr(rillet, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rillet.nope  # type: ignore[attr-defined]  # noqa: B018
