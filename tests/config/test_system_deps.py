"""`make test` on a fresh machine: the Debian packages the suite needs are installed when
allowed, or named with the way to install them; the browser tests are never skipped quietly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "system-deps"


def deps(*packages: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *packages],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_machine_without_chromium_is_told_what_to_install_when_it_may_not():
    out = deps("chromium", CHROMIUM="/nonexistent/chromium", TUNEDESK_NO_APT="1")
    assert out.returncode == 1
    assert "Missing Debian packages: chromium." in out.stderr
    assert "apt-get install --no-install-recommends chromium" in out.stderr
    assert "make test BROWSER=no" in out.stderr


def test_nothing_missing_is_nothing_to_do():
    assert deps().returncode == 0


def test_an_unknown_package_is_an_error_not_a_pass():
    out = deps("left-pad")
    assert out.returncode == 2
    assert "no rule for left-pad" in out.stderr


def make_n(*args: str) -> str:
    out = subprocess.run(
        ["make", "-n", "test", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_test_checks_for_chromium_before_the_suite():
    lines = make_n().splitlines()
    check = lines.index(".ci/system-deps chromium fonts-noto-cjk")
    suite = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert check < suite


def test_make_test_without_the_browser_deselects_the_browser_tests_visibly():
    text = make_n("BROWSER=no")
    assert '-m pytest -m "not browser"' in text
    assert "system-deps chromium" not in text
