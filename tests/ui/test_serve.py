"""The studio command refuses to serve beyond this machine without a login, and reads logins off the command line."""

from __future__ import annotations

import argparse

import pytest

from ui import serve
from ui.app import read_auth


def args_of(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    serve.add_args(p)
    return p.parse_args(list(argv))


@pytest.mark.parametrize("argv", [["--share"], ["--host", "0.0.0.0"], ["--host", "192.168.1.5"]])
def test_exposed_without_a_login_is_refused_with_one_line(argv, capsys, monkeypatch):
    monkeypatch.delenv(serve.AUTH_ENV, raising=False)
    assert serve.run(args_of(*argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "without a login" in err and "--auth-file" in err


def test_loopback_or_a_login_may_start(tmp_path, monkeypatch):
    monkeypatch.delenv(serve.AUTH_ENV, raising=False)
    assert serve.exposure_error(args_of()) is None
    logins = tmp_path / "users.txt"
    logins.write_text("# the team\nalice:s3cret\nbob:hunter2\n", encoding="utf-8")
    assert serve.exposure_error(args_of("--host", "0.0.0.0", "--auth-file", str(logins))) is None
    monkeypatch.setenv(serve.AUTH_ENV, str(logins))
    exposed = args_of("--share")
    assert serve.exposure_error(exposed) is None
    assert read_auth(serve.auth_spec(exposed)) == [("alice", "s3cret"), ("bob", "hunter2")]


def test_operators_must_be_logins(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(serve.AUTH_ENV, raising=False)
    assert serve.run(args_of("--operator", "alice")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--operator needs logins" in err
    logins = tmp_path / "users.txt"
    logins.write_text("alice:s3cret\nbob:hunter2\n", encoding="utf-8")
    assert serve.run(args_of("--auth-file", str(logins), "--operator", "olive")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--operator olive is not one of the logins" in err


def test_operators_and_allowed_models_reach_the_studio(tmp_path, monkeypatch):
    import ui.app

    monkeypatch.delenv(serve.AUTH_ENV, raising=False)
    logins = tmp_path / "users.txt"
    logins.write_text("alice:s3cret\nbob:hunter2\n", encoding="utf-8")
    seen = {}
    monkeypatch.setattr(ui.app, "launch_studio", lambda **kw: seen.update(kw))
    argv = ["--auth-file", str(logins), "--operator", "alice", "--allow-model", "/models/a"]
    assert serve.run(args_of(*argv, "--allow-model", "org/b")) == 0
    assert seen["operators"] == ("alice",) and seen["allowed_models"] == ("/models/a", "org/b")
