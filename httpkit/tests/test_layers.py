"""The packages stand in layers and every import runs down (docs/development.md, "Where things live")."""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Lowest first; a package may import only packages on a lower layer (and itself).
LAYERS = [
    {"httpkit", "bulk"},
    {"idempotency"},
    {"accounts"},
    {"posts"},
    {"votes"},
    {"fastapi_import", "demo"},
]
LAYER = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(LAYER)


def code_files(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        if not {"tests", "migrations"} & set(path.relative_to(ROOT).parts):
            yield path


def test_every_app_of_the_project_has_a_layer():
    apps = {app for app in settings.INSTALLED_APPS if (ROOT / app / "apps.py").is_file()}
    assert apps == set(LAYER) - {"bulk"}


def test_imports_run_down_the_layers_only():
    upward = [
        f"{path.relative_to(ROOT)} imports {imported}"
        for package in LAYER
        for path in code_files(package)
        for imported in imported_packages(path)
        if imported != package and LAYER[imported] >= LAYER[package]
    ]
    assert upward == []
