"""The environment is read in one place (chalicelib/settings.py): nothing a deployed function runs
reads `os.environ` elsewhere; only the local runner and the command line, which set it, touch it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What sets the environment for the portal rather than reading its settings from it.
LOCAL_ONLY = ("chalicelib/localstack/",)


def _reads_the_environment(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and ast.unparse(node) in ("os.environ", "os.getenv"):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & {"environ", "getenv"}:
            return True
    return False


def test_only_settings_reads_the_environment():
    # Given every module a deployed function may run (chalicelib and app.py)
    modules = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    # Then only settings.py reads os.environ (the local runner sets it for the portal)
    found = [str(path.relative_to(ROOT)) for path in modules
             if _reads_the_environment(path) and not str(path.relative_to(ROOT)).startswith(LOCAL_ONLY)]
    assert found == ["chalicelib/settings.py"]
