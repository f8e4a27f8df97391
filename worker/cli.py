"""``dali-worker``: the command line. Thin wiring only: each sub-command lives in
``worker/commands/<name>.py`` with ``add_arguments(parser)`` and ``main(args) -> int``, and
imports its heavy dependencies (DALI, aiokafka) inside ``main`` so that ``--help`` is instant."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help); the order is the order of `dali-worker --help`
COMMANDS = {
    "demo": ("worker.commands.demo", "the whole chain in one command: broker, worker, sample images, results"),
    "run": ("worker.commands.run", "consume a topic, run DALI pipelines in micro-batches, publish results"),
    "try": ("worker.commands.try_pipeline", "run a pipeline on local files, no Kafka (prints or saves outputs)"),
    "compare": ("worker.commands.compare", "check a served pipeline against the validation pipeline of training, file by file"),
    "produce": ("worker.commands.produce", "send files or folders of media to a topic (raw or envelope)"),
    "tail": ("worker.commands.tail", "read and decode results or dead letters from a topic"),
    "pipelines": ("worker.commands.pipelines", "list the pipelines of a repository with their inputs and outputs"),
    "dev-kafka": ("worker.commands.dev_kafka", "start a single-node development Kafka broker from Apache Kafka's jars"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dali-worker",
        description="Kafka workers that feed encoded media to NVIDIA DALI pipelines "
                    "(a Triton DALI-backend model repository) and publish tensors or predictions.",
        epilog="Run `dali-worker COMMAND --help` for the options of one command.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # build the full parser only for the command asked for, so one command's imports never
    # slow down or break another's
    chosen = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(only=chosen)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    level = logging.WARNING - 10 * min(args.verbose, 2) if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    from worker import kafka_log

    kafka_log.install()  # aiokafka repeats one error per retry: one line per cause per 10 s
    mod = importlib.import_module(COMMANDS[args.command][0])
    return int(mod.main(args) or 0)
