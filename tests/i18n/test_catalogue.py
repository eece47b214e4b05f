"""Every UI string has a Chinese translation: extract the strings afresh from the code and
templates (as `makemessages` does) and check the committed zh-hans catalogue covers them."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = (
    "api",
    "config",
    "core",
    "jobs",
    "curation",
    "training",
    "templates",
    "locale",
    "manage.py",
)


def parse_po(text: str) -> dict[str, tuple[str, bool]]:
    """msgid -> (msgstr, fuzzy); plural entries keyed by their singular, msgstr[0] checked."""
    entries: dict[str, tuple[str, bool]] = {}
    for block in re.split(r"\n\s*\n", text):
        fuzzy = bool(re.search(r"^#,.*\bfuzzy\b", block, re.M))
        lines = [ln for ln in block.splitlines() if not ln.startswith("#")]
        fields: dict[str, str] = {}
        current = None
        for line in lines:
            match = re.match(
                r'^(msgid|msgid_plural|msgstr(?:\[0\])?|msgstr\[\d+\]|msgctxt) "(.*)"$', line
            )
            if match:
                current = match.group(1)
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            msgstr = fields.get("msgstr", fields.get("msgstr[0]", ""))
            key = (fields.get("msgctxt", "") + "\x04" if "msgctxt" in fields else "") + fields[
                "msgid"
            ]
            entries[key] = (msgstr, fuzzy)
    return entries


@pytest.fixture(scope="module")
def fresh_catalogue(tmp_path_factory) -> dict:
    if not shutil.which("xgettext"):
        pytest.fail("xgettext is missing: install gettext (make install does on Debian).")
    root = tmp_path_factory.mktemp("repo")
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy(src, root / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete", "-v0"],
        cwd=root,
        check=True,
        capture_output=True,
        env={
            "PATH": "/usr/bin:/bin",
            "TUNEDESK_DATA_DIR": str(root / "var"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        },
    )
    return parse_po((root / "locale/zh_Hans/LC_MESSAGES/django.po").read_text(encoding="utf-8"))


def test_every_ui_string_is_translated_to_chinese(fresh_catalogue):
    missing = [msgid for msgid, (msgstr, fuzzy) in fresh_catalogue.items() if not msgstr or fuzzy]
    assert not missing, (
        f"{len(missing)} UI strings lack a zh-hans translation (run `manage.py makemessages "
        f"-l zh_Hans` and fill them in): {missing[:20]}"
    )


def test_translations_keep_their_placeholders(fresh_catalogue):
    wrong = [
        msgid
        for msgid, (msgstr, _) in fresh_catalogue.items()
        if msgstr
        and sorted(re.findall(r"%\(\w+\)[sd]|\{\w+\}", msgid))
        != sorted(re.findall(r"%\(\w+\)[sd]|\{\w+\}", msgstr))
    ]
    assert not wrong, f"placeholders differ between msgid and msgstr: {wrong[:10]}"


def test_the_parser_sees_fuzzy_and_empty_entries():
    text = '#, fuzzy\nmsgid "A"\nmsgstr "甲"\n\nmsgid ""\n"B"\nmsgstr ""\n'
    assert parse_po(text) == {"A": ("甲", True), "B": ("", False)}


# Names makemessages passes to xgettext (Django's own --keyword list plus xgettext's Python
# defaults). A string marked through any other alias, e.g. `gettext_lazy as _l`, is silently
# never extracted, so it can never be translated and the catalogue tests above cannot see it.
EXTRACTED_NAMES = {
    "_",
    "gettext",
    "gettext_lazy",
    "gettext_noop",
    "ngettext",
    "ngettext_lazy",
    "pgettext",
    "pgettext_lazy",
    "npgettext",
    "npgettext_lazy",
}


def test_code_marks_strings_only_with_names_makemessages_extracts():
    import ast

    wrong = []
    for name in SOURCES:
        src = REPO / name
        files = src.rglob("*.py") if src.is_dir() else [src] if src.suffix == ".py" else []
        for path in files:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
                    wrong += [
                        f"{path.relative_to(REPO)}: {alias.name} as {alias.asname}"
                        for alias in node.names
                        if alias.asname and alias.asname not in EXTRACTED_NAMES
                    ]
    assert not wrong, (
        "makemessages does not extract strings marked through these aliases; import the "
        f"function under its own name (e.g. gettext_lazy) or as _: {wrong}"
    )
