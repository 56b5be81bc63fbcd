"""The fast engine (``--engine vllm``): a vLLM server of the studio's own, on the same model.

The real cases use the package's ``fast_engine`` (tests/backends/conftest.py): one server for all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.backends import FAST_ENGINE
from core.backends.catalogue import resolve
from core.backends.local_vllm import LocalVLLMBackend, server_threads
from core.config import SearchConfig
from core.llm import EngineUnavailable
from core.problems.problem import get_problem
from core.search.mcts import Search
from tests.conftest import TINY
from tests.scripted import ScriptedBackend
from ui.context import StudioContext
from ui.sessions import BackendPool

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_fast_engine_serves_the_model_with_prefix_caching_on_every_core(fast_engine):
    assert fast_engine.model_id == resolve(TINY).model_id  # what the in-process engine reports too
    command = fast_engine.server.command()
    assert "--enable-prefix-caching" in command
    assert fast_engine.server.env["OMP_NUM_THREADS"] == str(server_threads())
    assert fast_engine.server.ready()


@pytest.mark.slow
def test_a_wide_search_runs_on_the_fast_engine(fast_engine):
    config = SearchConfig(
        width=4, max_iterations=3, k=2, max_depth=3, end_gate=1.0, reflection=False, rollout=False
    )
    search = Search.start(get_problem("HumanEval/0"), config, fast_engine)
    search.run()
    assert search.tree.iteration == 3 and len(search.tree.nodes) > 1
    assert search.tree.model["backend"] == FAST_ENGINE


def test_without_the_vllm_environment_it_says_how_to_build_it(tmp_path):
    with pytest.raises(EngineUnavailable, match=r"make vllm-env") as caught:
        LocalVLLMBackend(TINY, python=tmp_path / "no-venv" / "bin" / "python")
    assert "\n" not in str(caught.value)


def test_the_server_ends_when_the_process_that_started_it_is_killed(tmp_path):
    """The guard: a starter killed with SIGKILL (no atexit, no cleanup) leaves no server behind."""
    pid_file = tmp_path / "server.pid"
    starter = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from core.backends.vllm_server import VLLMServer

        class Sleeper(VLLMServer):  # stands in for vLLM: a process that would run for ten minutes
            def command(self):
                return [sys.executable, "-c", "import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"]

            def ready(self):
                return True

        Sleeper(sys.executable, "model").start()
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", starter])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the stand-in server never started"
        time.sleep(0.1)
    server = int(pid_file.read_text())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while _alive(server):
        assert time.monotonic() < deadline, "the server outlived the process that started it"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie has ended


def test_a_studio_whose_fast_engine_cannot_start_says_why_and_runs_in_process():
    loaded = []

    def loader(kind, model, **options):
        loaded.append(kind)
        if kind == FAST_ENGINE:
            raise EngineUnavailable("the vLLM server did not start: exited with 1")
        return ScriptedBackend()

    ctx = StudioContext(backend=FAST_ENGINE, backends=BackendPool(loader=loader))
    assert "starts with the first search" in ctx.model_label()
    backend = ctx.backends.get(FAST_ENGINE, ctx.model)
    assert isinstance(backend, ScriptedBackend) and loaded == [FAST_ENGINE, "transformers"]
    assert ctx.backends.get(FAST_ENGINE, ctx.model) is backend and len(loaded) == 2  # not retried each time
    label = ctx.model_label()
    assert "in-process" in label and "did not start: exited with 1" in label


@pytest.mark.parametrize("command", ["search", "generate", "evaluate", "studio"])
def test_every_command_takes_the_engine_flag(command):
    from launch import build_parser

    parser = build_parser()
    head = [command] if command != "studio" else []
    rest = {
        "search": ["--problem", "HumanEval/0"],
        "generate": ["--problems", "HumanEval/0", "--out", "x"],
    }.get(command, [])
    args = parser.parse_args([*head, *rest, "--engine", "vllm"])
    assert args.backend == FAST_ENGINE
    args = parser.parse_args([*head, *rest, "--engine", "in-process"])
    assert args.backend == "transformers"
    assert parser.parse_args([*head, *rest]).backend == "transformers"


def test_the_experiment_command_puts_the_engine_in_the_spec():
    from cli.experiment import load_spec
    from launch import build_parser

    args = build_parser().parse_args(["experiment", "--preset", sorted(_presets())[0], "--engine", "vllm"])
    assert load_spec(args).backend == FAST_ENGINE


def _presets():
    from core.experiments.spec import PRESETS

    return PRESETS


def test_an_unknown_engine_is_one_line_and_exit_2():
    result = subprocess.run(
        [sys.executable, "launch.py", "search", "--problem", "HumanEval/0", "--engine", "turbo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert "unknown engine 'turbo'" in line and "in-process or vllm" in line


def test_engine_names_are_the_documented_ones():
    from core.backends import engine_backend

    assert engine_backend("vllm") == FAST_ENGINE and engine_backend("in-process") == "transformers"
    with pytest.raises(ValueError, match="in-process or vllm"):
        engine_backend("fast")


def test_greedy_evaluation_sends_larger_batches_to_vllm():
    from cli.evaluate import EvalArgs, build_spec

    assert build_spec(EvalArgs(split="first-40")).batch == 8  # transformers pads every row of a call
    assert build_spec(EvalArgs(split="first-40", backend=FAST_ENGINE)).batch == 32
    assert build_spec(EvalArgs(split="first-40", backend=FAST_ENGINE, batch=4)).batch == 4


def test_the_header_follows_a_start_up_in_flight_without_waiting_for_it():
    import threading

    release = threading.Event()

    def loader(kind, model, **options):
        release.wait(30)  # a server starting: minutes in real life
        return ScriptedBackend()

    ctx = StudioContext(backend=FAST_ENGINE, backends=BackendPool(loader=loader))
    starting = threading.Thread(target=ctx.backends.get, args=(FAST_ENGINE, ctx.model))
    starting.start()
    try:
        labels: list[str] = []
        reader = threading.Thread(target=lambda: labels.append(ctx.model_label()))
        reader.start()
        reader.join(5)
        assert labels, "the header waited for the engine's start-up"
        assert "vLLM server" in labels[0] and "loading" in labels[0]
    finally:
        release.set()
        starting.join(30)
    assert "the fast engine" in ctx.model_label()
