"""The layers of the package: maths and workflows never reach into the CLI, benchmarks call the library."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved against the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(REPO / "src").with_suffix("").parts[:-1]) if "src" in path.parts else ""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("folder", ["benchmarks", "src/latentlens/workflows", "src/latentlens/directions",
                                    "src/latentlens/explain", "src/latentlens/metrics", "src/latentlens/viz"])  # fmt: skip
def test_nothing_below_the_cli_imports_the_commands(folder):
    offenders = {str(p.relative_to(REPO)): sorted(n for n in _imports(p) if n.startswith("latentlens.commands"))
                 for p in sorted((REPO / folder).rglob("*.py"))}  # fmt: skip
    assert not {k: v for k, v in offenders.items() if v}, "the CLI layer is imported from below it"


def test_the_import_scan_sees_relative_and_absolute_imports():
    probe = REPO / "src" / "latentlens" / "workflows" / "demo.py"
    names = _imports(probe)
    assert any(n.startswith("latentlens.") for n in names)  # relative imports resolved into the package
