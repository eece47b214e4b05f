"""Dependencies point one way: shared layers (jobs, core: errors and API tokens) <- curation
<- training <- doors (views, API, admin, management commands, URL confs).

Walks every import statement of the project's modules (function-level ones included) with
ast, the way the URL walker walks every URL for permissions. A lower layer that needs to
tell a higher one something sends a signal or takes a registration (core.tokens.token_changed,
jobs.tasks.register_handler, jobs.services.register_sweep)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "core", "jobs", "curation", "training", "api")
LAYERS = {"config": 0, "core": 0, "jobs": 0, "curation": 1, "training": 2}
DOOR = 3
NAMES = {0: "shared (core, jobs, config.env/settings)", 1: "curation", 2: "training", 3: "a door"}


def is_door(module: str) -> bool:
    # `module` may end in a name imported from it (`curation.views.home`): any part counts.
    parts = module.split(".")
    if parts[0] == "config":  # settings and env are read by all; the rest is HTTP plumbing
        return len(parts) > 1 and parts[1] not in ("env", "settings")
    return parts[0] == "api" or any(
        part in ("management", "views", "admin", "urls", "wsgi", "asgi")
        or part.endswith(("_views", "urls"))
        or part.startswith("urls_")
        for part in parts
    )


def layer_of(module: str) -> int | None:
    top = module.split(".")[0]
    if top not in PACKAGES:
        return None  # django, torch, the standard library...
    return DOOR if is_door(module) else LAYERS[top]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                )
            # `from training import runs` imports training.runs: judge each name as a module.
            found += [(node.lineno, f"{base}.{alias.name}".strip(".")) for alias in node.names]
    return found


def violations_in(path: Path) -> list[str]:
    source = module_name(path)
    own = layer_of(source)
    bad = []
    for line, target in imports_of(path):
        target_layer = layer_of(target)
        if target_layer is not None and target_layer > own:
            bad.append(
                f"{path.relative_to(ROOT)}:{line} {source} ({NAMES[own]}) imports {target} "
                f"({NAMES[target_layer]})"
            )
    return bad


def test_every_import_points_down_the_layers():
    modules = project_modules()
    assert len(modules) > 100  # the walk found the project
    bad = [v for path in modules for v in violations_in(path)]
    assert not bad, "imports against the direction:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "code", "expected"),
    [
        ("jobs/services.py", "from curation.models import Project", "curation"),
        ("core/errors.py", "def f():\n    import training.runs", "training"),
        ("curation/imports.py", "from training import jobs", "training"),
        ("training/runs.py", "from api.serializers import RunSerializer", "api.serializers"),
        ("curation/workflow.py", "from curation.views import home", "curation.views"),
    ],
)
def test_the_walker_catches_an_import_against_the_direction(tmp_path, source, code, expected):
    path = ROOT / source
    copy = path.with_name("_walker_probe.py")
    copy.write_text(code + "\n", encoding="utf-8")
    try:
        found = violations_in(copy)
    finally:
        copy.unlink()
    assert found and expected in found[0]


def test_doors_may_use_every_layer():
    path = ROOT / "api" / "_walker_probe.py"
    path.write_text("from jobs.services import job_state\nfrom training import runs\n")
    try:
        assert violations_in(path) == []
    finally:
        path.unlink()
