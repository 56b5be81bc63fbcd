"""The ``studio`` command: its flags, and starting the web app with them (``launch.py`` alone does too)."""

from __future__ import annotations

import argparse
import os
import sys

from core.backends import BACKENDS, add_engine_flag

NAME = "studio"
HELP = "start the studio web app (the default)"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public share link (off by default)")
    p.add_argument(
        "--auth",
        help="user:password, or a file with one user:password per line (a password here shows in `ps`: "
        "prefer --auth-file or $SRA_STUDIO_AUTH)",
    )
    p.add_argument("--auth-file", help="a file with one user:password per line (# comments allowed)")
    p.add_argument(
        "--operator",
        action="append",
        default=[],
        metavar="LOGIN",
        help="a login that sees and steers every user's runs, jobs and evaluations (repeatable; "
        "with logins on, everyone else sees only their own)",
    )
    p.add_argument(
        "--allow-model",
        action="append",
        default=[],
        metavar="MODEL",
        help="a base model the Train tab may fine-tune, besides the embedded model and --model "
        "(a local folder or a Hugging Face id; repeatable). Clients pick from this list, never a path",
    )
    p.add_argument(
        "--model",
        default="embedded",
        help="the studio's policy model: embedded (the default, = qwen2.5-coder-0.5b), qwen2.5-coder-1.5b, "
        "smollm2-135m, a Hugging Face id or a local folder",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="transformers",
        help="transformers (default, in-process), vllm (vllm.LLM in-process) or openai (--base-url)",
    )
    add_engine_flag(
        p,
        "in-process (the default) or vllm: the fast engine, a vLLM server on this machine started on "
        "the same model (about 90 s on a 2-core CPU; the page shows it) and stopped with the studio; "
        "`make vllm-env` builds it once. If it cannot start, the studio says why and runs in-process",
    )
    p.add_argument(
        "--base-url", help="openai: the server, e.g. http://127.0.0.1:8000/v1 (or $OPENAI_BASE_URL)"
    )


AUTH_ENV = "SRA_STUDIO_AUTH"  # user:password, or the path of a file of such lines
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def auth_spec(args: argparse.Namespace) -> str | None:
    """Where the logins come from: --auth-file, else --auth, else $SRA_STUDIO_AUTH."""
    return args.auth_file or args.auth or os.environ.get(AUTH_ENV) or None


def exposure_error(args: argparse.Namespace) -> str | None:
    """Why the studio must not start as asked: reachable beyond this machine with no login."""
    if auth_spec(args):
        return None
    if args.share:
        return "--share without a login would let anyone with the link run code here: add --auth-file"
    if args.host not in LOOPBACK:
        return f"--host {args.host} without a login would let anyone on the network run code here: add --auth-file"
    return None


def operator_error(args: argparse.Namespace, logins: list[tuple[str, str]] | None) -> str | None:
    """Why the --operator flags cannot apply: no logins, or a name that is not one of them."""
    if not args.operator:
        return None
    if not logins:
        return "--operator needs logins (--auth-file): without them every user already sees everything"
    names = {user for user, _ in logins}
    unknown = [o for o in args.operator if o not in names]
    if unknown:
        return f"--operator {unknown[0]} is not one of the logins"
    return None


def run(args: argparse.Namespace) -> int:
    if args.backend != "openai" and args.base_url:
        sys.stderr.write("error: --base-url applies only to --backend openai\n")
        return 2
    refused = exposure_error(args)
    if refused:
        sys.stderr.write(f"error: {refused}\n")
        return 2
    if args.auth and ":" in args.auth and not os.path.isfile(args.auth):
        sys.stderr.write(
            "warning: a password on the command line shows in the process list; use --auth-file\n"
        )
    from ui.app import launch_studio, read_auth  # imported here: gradio takes seconds to import

    try:
        logins = read_auth(auth_spec(args))
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    refused = operator_error(args, logins)
    if refused:
        sys.stderr.write(f"error: {refused}\n")
        return 2
    launch_studio(
        host=args.host,
        port=args.port,
        share=args.share,
        auth=auth_spec(args),
        model=args.model,
        backend=args.backend,
        backend_options={"base_url": args.base_url} if args.base_url else {},
        operators=tuple(args.operator),
        allowed_models=tuple(m.strip() for m in args.allow_model if m.strip()),
    )
    return 0
