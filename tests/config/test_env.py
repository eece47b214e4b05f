import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import database_config, env_bool, env_choice, env_dir, env_int, env_list


def test_env_bool_reads_the_usual_spellings():
    assert env_bool("X", False, {"X": "yes"}) is True
    assert env_bool("X", True, {"X": "0"}) is False
    assert env_bool("X", True, {}) is True


def test_env_bool_names_the_variable_and_the_fix():
    with pytest.raises(
        ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean\. Fix: set DEBUG"
    ):
        env_bool("DEBUG", False, {"DEBUG": "maybe"})


def test_env_list_rejects_an_empty_entry():
    assert env_list("H", [], {"H": "a.example, b.example"}) == ["a.example", "b.example"]
    with pytest.raises(ImproperlyConfigured, match="empty entry"):
        env_list("ALLOWED_HOSTS", [], {"ALLOWED_HOSTS": "a,,b"})


def test_env_int_rejects_text():
    with pytest.raises(
        ImproperlyConfigured, match=r"TUNEDESK_MAX_UPLOAD_MB='big' is not a whole number"
    ):
        env_int("TUNEDESK_MAX_UPLOAD_MB", 1, {"TUNEDESK_MAX_UPLOAD_MB": "big"})


def test_env_dir_refuses_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ImproperlyConfigured, match="is not a directory"):
        env_dir("TUNEDESK_DATA_DIR", tmp_path, {"TUNEDESK_DATA_DIR": str(f)})


def test_env_dir_creates_the_directory(tmp_path):
    path = env_dir("D", tmp_path, {"D": str(tmp_path / "a" / "b")})
    assert path.is_dir()


def test_database_defaults_to_sqlite_in_wal_mode(tmp_path):
    config = database_config(None, sqlite_path=tmp_path / "db.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] >= 5


def test_database_reads_a_postgres_url(tmp_path):
    config = database_config("postgres://u:p@db.example:5433/td", sqlite_path=tmp_path / "x")
    assert (config["ENGINE"], config["HOST"], config["PORT"], config["NAME"]) == (
        "django.db.backends.postgresql",
        "db.example",
        5433,
        "td",
    )


def test_database_refuses_an_unsupported_engine(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="supports PostgreSQL and SQLite"):
        database_config("mysql://u:p@h/db", sqlite_path=tmp_path / "x")


def test_database_refuses_an_unknown_scheme(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is not understood"):
        database_config("nosuch://x", sqlite_path=tmp_path / "x")


def test_settings_fail_loudly_at_start_up_on_a_bad_value(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "sometimes",
            "TUNEDESK_DATA_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        cwd=str(__import__("config").__path__[0] + "/.."),
    )
    assert result.returncode != 0
    assert "DEBUG='sometimes' is not a boolean" in result.stderr


def test_env_choice_names_the_choices():
    assert env_choice("C", "a", ("a", "b"), {"C": " B "}) == "b"
    assert env_choice("C", "a", ("a", "b"), {}) == "a"
    with pytest.raises(ImproperlyConfigured, match=r"C='c' is not one of a, b\. Fix"):
        env_choice("C", "a", ("a", "b"), {"C": "c"})
