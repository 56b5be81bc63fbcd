"""Entry point: ``python launch.py`` starts the studio; ``python launch.py search|generate|...`` runs headless."""

from __future__ import annotations

import argparse
import os
import sys

from core.backends import BACKENDS
from core.cli import SearchArgs, UsageError, configure_logging, run_search
from core.generate_cli import add_generate_args, run_generate_cli
from core.store import StoreError

BACKEND_HELP = (
    "transformers (default, in-process), vllm (vllm.LLM in-process) or openai (an OpenAI-compatible "
    "server: --base-url where offered, else $OPENAI_BASE_URL)"
)


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one clear line and exit status 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="launch.py", description="SRA-MCTS Studio")
    parser.add_argument("--verbose", action="store_true", help="log progress of model loading and the server")
    parser.add_argument(
        "--data-dir",
        help="folder of the studio database and exports (default: $SRA_STUDIO_DATA, else ~/.local/share/sra-mcts-studio)",
    )
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)

    studio = sub.add_parser("studio", help="start the studio web app (the default)")
    add_studio_args(studio)

    search = sub.add_parser("search", help="run one search headless and print the best path and its code")
    search.add_argument("--problem", help="a HumanEval id such as HumanEval/0")
    search.add_argument("--problem-text", help="a custom problem, as text")
    search.add_argument("--tests", default="", help="assert lines for a custom problem (visible tests)")
    search.add_argument("--backend", choices=BACKENDS, default="transformers", help=BACKEND_HELP)
    search.add_argument(
        "--model", default="embedded", help="'embedded' (default), a Hugging Face id or a local path"
    )
    search.add_argument(
        "--adapter", help="a registered LoRA adapter (name or folder) on top of --model, as policy and critic"
    )
    search.add_argument("--config", help="a JSON file of config fields")
    search.add_argument("--iterations", type=int, help="iteration budget (config max_iterations)")
    search.add_argument("--seed", type=int, help="random seed (config seed)")
    search.add_argument(
        "--exec-weight",
        type=float,
        help="w: reward = (1-w)*critic + w*visible-test pass rate on terminal nodes",
    )
    search.add_argument("--out", help="write the tree JSON here (after every iteration)")
    search.add_argument("--no-code", action="store_true", help="skip turning the best path into code")
    search.add_argument(
        "--save", action="store_true", help="save the run to the studio database after every iteration"
    )
    search.add_argument("--run-id", help="id of the new run in the database (implies --save)")
    search.add_argument(
        "--resume", metavar="RUN_ID", help="continue a saved run until it has run --iterations in all"
    )
    report = sub.add_parser(
        "report", help="how well the critic predicts the hidden tests, over saved tree files"
    )
    report.add_argument("trees", nargs="+", metavar="TREE_JSON", help="tree files written by search --out")
    export = sub.add_parser(
        "export", help="turn saved tree files into training files (SFT, DPO, PRM, datasets)"
    )
    export.add_argument("trees", nargs="+", metavar="TREE_JSON", help="tree files written by search --out")
    export.add_argument(
        "--out", required=True, help="the export folder; each file in it is replaced atomically"
    )
    export.add_argument(
        "--accept",
        choices=("best", "terminal"),
        default="best",
        help="accept the best path of each tree (default) or every finished path",
    )
    export.add_argument(
        "--formats", default="sft,alpaca,reference,dpo,prm,hf", help="comma-separated formats"
    )
    export.add_argument(
        "--annotator", default="cli", help="the name recorded as annotator in each record's meta"
    )
    add_finetune_args(sub)
    add_evaluate_args(sub)
    add_generate_args(
        sub.add_parser(
            "generate", help="SFT data for many problems: search, best path, code, check (resumable)"
        )
    )
    add_studio_args(parser)
    return parser


def add_finetune_args(sub) -> None:
    ft = sub.add_parser(
        "finetune", help="LoRA fine-tune on an exported dataset, headless (Ctrl-C stops cleanly)"
    )
    ft.add_argument("--dataset", required=True, help="an export folder (its sft.jsonl) or an SFT JSONL file")
    ft.add_argument("--preset", default="default", help="'CPU quick', 'default' (the default) or 'GPU'")
    ft.add_argument("--base-model", help="'embedded' (default), a Hugging Face id or a local path")
    ft.add_argument("--name", dest="adapter_name", help="the adapter's name (default: <dataset>-<time>)")
    for flag, kind in (("--lora-r", int), ("--lora-alpha", int), ("--lora-dropout", float)):
        ft.add_argument(flag, type=kind)
    ft.add_argument("--target-modules", help="comma-separated, e.g. q_proj,k_proj,v_proj,o_proj")
    ft.add_argument("--lr", dest="learning_rate", type=float, help="learning rate")
    ft.add_argument("--epochs", type=float)
    ft.add_argument("--batch-size", type=int)
    ft.add_argument("--grad-accum", type=int, help="gradient accumulation steps")
    ft.add_argument("--max-length", type=int, help="tokens per record (longer ones are cut)")
    ft.add_argument("--seed", type=int)
    ft.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    ft.add_argument("--preview", action="store_true", help="print the resolved config and exit")


def add_evaluate_args(sub) -> None:
    ev = sub.add_parser(
        "evaluate", help="pass@k on HumanEval problems, judged by their hidden tests; stored in the database"
    )
    ev.add_argument("--split", help="all, first-N, last-N or a range such as HumanEval/0-39")
    ev.add_argument(
        "--problems", help="comma-separated HumanEval ids instead of a split, e.g. 0,2,HumanEval/7"
    )
    ev.add_argument("--backend", choices=BACKENDS, default="transformers", help=BACKEND_HELP)
    ev.add_argument(
        "--model", default="embedded", help="'embedded' (default), a Hugging Face id or a local path"
    )
    ev.add_argument("--adapter", help="a registered LoRA adapter on top of the model")
    ev.add_argument(
        "--mode", choices=("greedy", "mcts"), default="greedy", help="code straight away, or MCTS then code"
    )
    ev.add_argument("--samples", type=int, default=1, help="samples per problem (n; > 1 needs --temperature)")
    ev.add_argument("--temperature", type=float, default=0.0, help="0 = greedy decoding (default)")
    ev.add_argument(
        "--k", default="1", help="comma-separated k of pass@k, each at most --samples (default 1)"
    )
    ev.add_argument("--max-tokens", type=int, default=384, help="tokens for the code reply (default 384)")
    ev.add_argument("--iterations", type=int, help="mcts: iteration budget of each search")
    ev.add_argument("--preset", help="mcts: search preset (default: 'paper defaults')")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--batch", type=int, default=8, help="greedy: problems per model call (default 8)")
    ev.add_argument(
        "--save", action=argparse.BooleanOptionalAction, default=True, help="store the result (default)"
    )


def add_studio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public share link (off by default)")
    p.add_argument("--auth", help="user:password, or a file with one user:password per line")
    p.add_argument("--model", default="embedded", help="policy model for the studio")
    p.add_argument("--backend", choices=BACKENDS, default="transformers", help=BACKEND_HELP)
    p.add_argument(
        "--base-url", help="openai: the server, e.g. http://127.0.0.1:8000/v1 (or $OPENAI_BASE_URL)"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    if args.data_dir:
        os.environ["SRA_STUDIO_DATA"] = args.data_dir  # read by core.store.data_dir()
    try:
        if args.command == "finetune":
            from core.finetune_cli import FinetuneArgs, run_finetune

            names = FinetuneArgs.__dataclass_fields__
            return run_finetune(FinetuneArgs(**{k: v for k, v in vars(args).items() if k in names}))
        if args.command == "evaluate":
            from core.evaluate_cli import EvalArgs, run_evaluate

            names = EvalArgs.__dataclass_fields__
            run_evaluate(EvalArgs(**{k: v for k, v in vars(args).items() if k in names}))
            return 0
        if args.command == "generate":
            return run_generate_cli(args)
        if args.command == "export":
            from core.export_cli import run_export

            formats = [f for f in args.formats.split(",") if f]
            return run_export(
                args.trees, args.out, accept=args.accept, formats=formats, annotator=args.annotator
            )
        if args.command == "report":
            from core.report_cli import run_report

            return run_report(args.trees)
        if args.command == "search":
            run_search(
                SearchArgs(
                    problem=args.problem,
                    problem_text=args.problem_text,
                    tests=args.tests,
                    backend=args.backend,
                    model=args.model,
                    adapter=args.adapter,
                    config=args.config,
                    iterations=args.iterations,
                    seed=args.seed,
                    exec_weight=args.exec_weight,
                    out=args.out,
                    code=not args.no_code,
                    save=args.save,
                    run_id=args.run_id,
                    resume=args.resume,
                )
            )
            return 0
        from ui.app import launch_studio

        if args.backend != "openai" and args.base_url:
            raise UsageError("--base-url applies only to --backend openai")
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
    except (UsageError, StoreError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
