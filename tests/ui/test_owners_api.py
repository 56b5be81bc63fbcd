"""Users kept apart (issue 15): with logins on, bob cannot list, read, steer, stop or execute alice's
run, job or evaluation; each attempt gets one clear refusal. An operator sees and steers everything;
without logins everything stays visible, as before.

The studio runs in-process with three logins, the scripted model, and training jobs whose worker
is a sleeper (real job folders, checks and Stop; no training), driven through gradio_client.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from gradio_client import Client

from core.store.runs import Store
from core.training.jobs import FinetuneJobs
from tests.finetune_data import write_sft_export
from tests.scripted import ScriptedBackend
from ui import finetune_actions as ft
from ui.app import build_app
from ui.context import StudioContext
from ui.search_tab import pick_problem as prompt_of
from ui.sessions import BackendPool

LOGINS = [("alice", "pw-alice"), ("bob", "pw-bob"), ("olive", "pw-olive")]
KNOBS = ["paper defaults", 2, 3, 0.5, 0.7, 0, 1, '{"end_gate": 1.0}', ""]
PROBLEM = ["HumanEval/0", prompt_of("HumanEval/0"), ""]  # picker, text, tests
EVAL_FORM = ["HumanEval/0-9", "", "greedy", 1, 0.0, "1", 2, "quick demo"]  # two batches: Stop lands between


class SleeperJobs(FinetuneJobs):
    """Every check and file of a real job; the worker process only sleeps until it is stopped."""

    def _spawn(self, job_dir):
        return subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(300)"],
            cwd=job_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    root = tmp_path_factory.mktemp("owners")
    write_sft_export(root / "exports" / "demo", records=4)
    model = ScriptedBackend()
    jobs = SleeperJobs(root / "jobs", adapters=root / "adapters")
    ctx = StudioContext(
        backends=BackendPool(loader=lambda kind, name, **kw: model),
        store=Store(root / "studio.db"),
        logins=True,
        operators=frozenset({"olive"}),
        jobs=jobs,
    )
    app = build_app(ctx).queue(default_concurrency_limit=4)
    _, url, _ = app.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, auth=LOGINS
    )
    yield url, ctx, model
    app.close()
    for st in jobs.jobs():  # the sleepers this module started
        jobs.stop(st.id, wait_s=10)


def client(url: str, login: str) -> Client:
    return Client(url, auth=(login, dict(LOGINS)[login]), verbose=False)


@pytest.fixture(scope="module")
def alice(studio):
    return client(studio[0], "alice")


@pytest.fixture(scope="module")
def bob(studio):
    return client(studio[0], "bob")


@pytest.fixture(scope="module")
def olive(studio):
    return client(studio[0], "olive")


@pytest.fixture(scope="module")
def alices_run(alice):
    """Alice's run after one iteration: (run id, a child node, a curation key of it)."""
    rid = alice.predict(*PROBLEM, *KNOBS, api_name="/new_search")[0]
    alice.predict(rid, None, *PROBLEM, *KNOBS, api_name="/step")
    tree = json.loads(alice.predict(rid, api_name="/get_tree"))
    child = tree["nodes"][0]["children"][0]
    query = {"problem": "", "model": "", "run_status": "", "min_value": None, "text": "", "sort_by": "value"}
    key = alice.predict(**query, queue="pending", key="", api_name="/curate_refresh")[2]
    assert key.startswith(f"{rid}#"), key
    return rid, child, key


def refused(kind: str, item: object) -> str:
    return rf"^{kind} {re.escape(str(item))} belongs to another user$"


def tree_json(ctx: StudioContext, rid: str) -> str:
    run = ctx.runs.get(rid)
    with run.search.lock:
        return run.search.tree.to_json()


RUN_CALLS = {  # what bob tries on alice's run: the endpoint and its arguments
    "read /get_tree": ("/get_tree", lambda r, n: (r,)),
    "read /open_run": ("/open_run", lambda r, n: (r,)),
    "read /inspect": ("/inspect", lambda r, n: (r, n)),
    "read /replay": ("/replay", lambda r, n: (r, 1)),
    "read /compare_run": ("/compare_run", lambda r, n: (r, None)),
    "read /reward_report": ("/reward_report", lambda r, n: (r, None)),
    "steer /step": ("/step", lambda r, n: (r, None, *PROBLEM, *KNOBS)),
    "steer /run": ("/run", lambda r, n: (r, None, *PROBLEM, *KNOBS)),
    "steer /prune": ("/prune", lambda r, n: (r, n)),
    "steer /unprune": ("/unprune", lambda r, n: (r, n)),
    "steer /force": ("/force", lambda r, n: (r, n)),
    "steer /edit": ("/edit", lambda r, n: (r, n, "Bob was here. (score 9)")),
    "steer /add_step": ("/add_step", lambda r, n: (r, 0, "Bob was here. (score 9)")),
    "steer /write_code": ("/write_code", lambda r, n: (r, n)),
    "steer /rescore": ("/rescore", lambda r, n: (r, n, "", None)),
    "steer /colour_by": ("/colour_by", lambda r, n: (r, "critic score", n)),
    "stop /stop": ("/stop", lambda r, n: (r,)),
    "stop /pause": ("/pause", lambda r, n: (r,)),
    "execute /execute": ("/execute", lambda r, n: (r, n)),
}


@pytest.mark.parametrize("what", list(RUN_CALLS))
def test_bob_cannot_read_steer_stop_or_execute_alices_run(studio, alices_run, bob, what):
    _, ctx, _ = studio
    rid, child, _ = alices_run
    endpoint, args = RUN_CALLS[what]
    before = tree_json(ctx, rid)
    with pytest.raises(Exception, match=refused("run", rid)):
        bob.predict(*args(rid, child), api_name=endpoint)
    assert tree_json(ctx, rid) == before, f"{endpoint} changed alice's run"
    assert not ctx.runs.get(rid).stop_requested.is_set()


def test_bob_cannot_decide_on_a_path_of_alices_run(studio, alices_run, bob):
    _, ctx, _ = studio
    rid, _, key = alices_run
    with pytest.raises(Exception, match=refused("run", rid)):
        bob.predict(
            "", "", "", None, "", "value", "pending", key, 0, "1. Bob's step", "", "", "",
            api_name="/curate_accept",
        )  # fmt: skip
    assert ctx.store.annotations() == []


def test_bob_lists_none_of_alices_runs_and_alice_lists_hers(studio, alices_run, alice, bob):
    rid, _, _ = alices_run
    own = bob.predict(*PROBLEM, *KNOBS, api_name="/new_search")[0]
    history = ["", "", "", "", "any time", ""]
    bobs = [row[0] for row in bob.predict(*history, api_name="/list_runs")[5]["data"]]
    alices = [row[0] for row in alice.predict(*history, api_name="/list_runs")[5]["data"]]
    assert own in bobs and rid not in bobs
    assert rid in alices and own not in alices
    query = {"problem": "", "model": "", "run_status": "", "min_value": None, "text": "", "sort_by": "value"}
    for queue in ("pending", "accepted", "rejected"):
        table = bob.predict(**query, queue=queue, key="", api_name="/curate_refresh")[1]
        assert rid not in json.dumps(table), f"bob's {queue} queue holds a path of alice's run"


def test_bob_cannot_see_or_stop_alices_job_and_alice_can(studio, alice, bob, olive):
    _, ctx, _ = studio
    values = ft.preset_values("CPU quick")
    numbers = [values[f] for f in ft.FIELDS]
    form = ["CPU quick", "demo", "embedded", "", values["target_modules"], *numbers]
    jid = alice.predict(*form, api_name="/finetune_start")[0]
    assert jid and ctx.owners.get("job", jid) == "alice"

    assert jid not in [row[0] for row in bob.predict(api_name="/finetune_jobs")]
    with pytest.raises(Exception, match=refused("job", jid)):
        bob.predict(jid, api_name="/finetune_status")
    with pytest.raises(Exception, match=refused("job", jid)):
        bob.predict(jid, api_name="/finetune_stop")
    assert ctx.finetune_jobs().status(jid).state in ft.ACTIVE, "bob's Stop stopped alice's job"

    assert jid in [row[0] for row in alice.predict(api_name="/finetune_jobs")]
    assert jid in [row[0] for row in olive.predict(api_name="/finetune_jobs")]
    status = alice.predict(jid, api_name="/finetune_stop")[0]
    assert f"Job {jid}" in status and "stopped" in status


def first_eval_id(job, timeout: float = 60.0) -> str:
    """The evaluation id the streaming /evaluate sends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for out in job.outputs():
            if out and isinstance(out[0], str) and out[0]:  # a skipped output reads as an update dict
                return out[0]
        time.sleep(0.1)
    raise AssertionError("the evaluation never said its id")


def test_bob_cannot_see_read_or_stop_alices_evaluation(studio, alice, bob, olive):
    _, ctx, model = studio
    model.delay_s = 1.5  # each batch takes a while: the evaluation is running while bob tries
    try:
        job = alice.submit(*EVAL_FORM, api_name="/evaluate")
        eid = first_eval_id(job)
        assert ctx.owners.get("eval", eid) == "alice"
        assert int(eid) not in [row[0] for row in bob.predict(api_name="/evaluations")]
        with pytest.raises(Exception, match=refused("evaluation", eid)):
            bob.predict(eid, api_name="/evaluation")
        with pytest.raises(Exception, match=refused("evaluation", eid)):
            bob.predict(eid, api_name="/evaluate_stop")
        bob.predict("", api_name="/evaluate_stop")  # bob's own Stop: he has nothing running
        assert int(eid) in [row[0] for row in olive.predict(api_name="/evaluations")]
        final = job.result(timeout=180)
    finally:
        model.delay_s = 0.0
    assert final[0] == eid and final[1].startswith("**finished**"), "bob's Stop stopped alice's evaluation"
    assert len(alice.predict(eid, api_name="/evaluation")) == 10
    assert int(eid) in [row[0] for row in alice.predict(api_name="/evaluations")]


def test_alice_stops_her_own_evaluation(studio, alice):
    _, _, model = studio
    model.delay_s = 1.5
    try:
        job = alice.submit(*EVAL_FORM, api_name="/evaluate")
        eid = first_eval_id(job)
        alice.predict(eid, api_name="/evaluate_stop")
        final = job.result(timeout=180)
    finally:
        model.delay_s = 0.0
    assert final[0] == eid and final[1].startswith("**stopped**"), final[1]


def test_an_operator_sees_and_steers_every_run(studio, alices_run, olive):
    _, ctx, _ = studio
    rid, child, _ = alices_run
    history = ["", "", "", "", "any time", ""]
    assert rid in [row[0] for row in olive.predict(*history, api_name="/list_runs")[5]["data"]]
    assert json.loads(olive.predict(rid, api_name="/get_tree"))["problem"]["id"] == "HumanEval/0"
    olive.predict(rid, child, api_name="/force")
    assert ctx.runs.get(rid).search.tree.nodes[child].forced


def test_a_reopened_run_keeps_its_owner(studio, alices_run, alice, bob):
    """After a restart the run is read back from the store: it is still alice's, and only hers."""
    _, ctx, _ = studio
    rid, _, _ = alices_run
    live = ctx.runs._runs.pop(rid)  # as if the studio restarted: only the store knows the run
    try:
        with pytest.raises(Exception, match=refused("run", rid)):
            bob.predict(rid, api_name="/get_tree")
        assert json.loads(alice.predict(rid, api_name="/get_tree"))["iteration"] >= 1
        assert ctx.runs.get(rid).owner == "alice"
    finally:
        ctx.runs._runs[rid] = live


def test_without_logins_every_session_sees_every_run(tmp_path):
    """One person on this machine (no logins): History lists every run and any session may open it."""
    ctx = StudioContext(
        backends=BackendPool(loader=lambda kind, name, **kw: ScriptedBackend()),
        store=Store(tmp_path / "studio.db"),
    )
    app = build_app(ctx).queue()
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        first, second = Client(url, verbose=False), Client(url, verbose=False)
        rid = first.predict(*PROBLEM, *KNOBS, api_name="/new_search")[0]
        rows = second.predict("", "", "", "", "any time", "", api_name="/list_runs")[5]["data"]
        assert rid in [row[0] for row in rows]
        assert json.loads(second.predict(rid, api_name="/get_tree"))["problem"]["id"] == "HumanEval/0"
        second.predict(rid, None, *PROBLEM, *KNOBS, api_name="/step")
        assert ctx.runs.get(rid).search.tree.iteration == 1
    finally:
        app.close()
