"""The ``studio`` command: its flags, and starting the web app with them (``launch.py`` alone does too)."""

from __future__ import annotations

import argparse
import sys

from core.backends import BACKENDS

NAME = "studio"
HELP = "start the studio web app (the default)"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public share link (off by default)")
    p.add_argument("--auth", help="user:password, or a file with one user:password per line")
    p.add_argument("--model", default="embedded", help="policy model for the studio")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="transformers",
        help="transformers (default, in-process), vllm (vllm.LLM in-process) or openai (--base-url)",
    )
    p.add_argument(
        "--base-url", help="openai: the server, e.g. http://127.0.0.1:8000/v1 (or $OPENAI_BASE_URL)"
    )


def run(args: argparse.Namespace) -> int:
    if args.backend != "openai" and args.base_url:
        sys.stderr.write("error: --base-url applies only to --backend openai\n")
        return 2
    from ui.app import launch_studio  # imported here: gradio takes seconds to import

    launch_studio(
        host=args.host,
        port=args.port,
        share=args.share,
        auth=args.auth,
        model=args.model,
        backend=args.backend,
        backend_options={"base_url": args.base_url} if args.base_url else {},
    )
    return 0
