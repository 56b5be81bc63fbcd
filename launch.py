"""Entry point: ``python launch.py`` starts the studio; ``python launch.py search|generate|...`` runs headless.

It only builds the parser from the command modules (each has ``NAME``, ``HELP``, ``add_args`` and
``run``) and hands the parsed arguments to the one that was named.
"""

from __future__ import annotations

import argparse
import os
import sys

from cli import evaluate, experiment, export, finetune, generate, models, report, search
from cli.common import OneLineParser, UsageError, configure_logging
from core.execution.modes import SandboxUnavailable, allow_unsandboxed
from core.store.database import StoreError
from ui import serve

COMMANDS = (serve, search, generate, evaluate, finetune, export, report, experiment, models)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="launch.py", description="SRA-MCTS Studio")
    parser.add_argument("--verbose", action="store_true", help="log progress of model loading and the server")
    parser.add_argument(
        "--data-dir",
        help="folder of the studio database and exports (default: $SRA_STUDIO_DATA, else ~/.local/share/sra-mcts-studio)",
    )
    parser.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="run model code even where neither bubblewrap nor unshare works (no sandbox: the studio shows a banner)",
    )
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    for command in COMMANDS:
        command.add_args(sub.add_parser(command.NAME, help=command.HELP))
    serve.add_args(parser)  # no command: the studio
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    if args.data_dir:
        os.environ["SRA_STUDIO_DATA"] = args.data_dir  # read by core.paths.data_dir()
    allow_unsandboxed(args.allow_unsandboxed)
    command = next((c for c in COMMANDS if args.command == c.NAME), serve)
    try:
        return command.run(args)
    except (UsageError, StoreError, SandboxUnavailable) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
