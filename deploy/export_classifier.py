#!/usr/bin/env python3
"""Export a pretrained ImageNet classifier (torchvision ResNet-50) to ONNX, with its labels and a
Triton config, into the model repository that docker-compose.yml serves:

    pipelines/resnet50/config.pbtxt      platform onnxruntime_onnx, dynamic batching
    pipelines/resnet50/labels.txt        1000 ImageNet class names, line i = class i
    pipelines/resnet50/1/model.onnx      input "input" FP32 [-1, 3, 224, 224], output "logits" [-1, 1000]

The input matches the ``classify`` pipeline's output (decode, resize shorter side 256, centre crop
224, ImageNet mean/std, CHW float32), which is the preprocessing these weights were trained with.

`docker compose up` runs it for you first, in the ``export-classifier`` service (the official
PyTorch image plus onnx and onnxruntime, deploy/export.Dockerfile; on the CPU), with ``--if-missing``: when the three files above are there it exits 0
at once, so Triton (which waits for that service to complete successfully) finds the model on
every start. The first run downloads the weights, about 100 MB, from PyTorch's servers. By hand,
on a machine with PyTorch and torchvision (CPU is enough):

    pip install torch torchvision onnx     # torch.onnx.export needs onnx; onnxruntime adds a check
    python deploy/export_classifier.py     # or: docker compose run --rm export-classifier --force

The model files are not in git. ``--weights none`` exports the same graph with random weights
(for testing the export where no download is possible; its predictions are meaningless).
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
from pathlib import Path

MODEL_NAME = "resnet50"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
INPUT_SHAPE = (3, 224, 224)  # CHW, the classify pipeline's output
NUM_CLASSES = 1000
LABELS_FILE = "labels.txt"
OPSET = 17


def config_text(name: str = MODEL_NAME, max_batch_size: int = 128, gpu: bool = True,
                labels_file: str | None = LABELS_FILE, queue_delay_us: int = 2000) -> str:
    """config.pbtxt for the exported model (protobuf text format, Triton's ModelConfig)."""
    c, h, w = INPUT_SHAPE
    label = f', label_filename: "{labels_file}"' if labels_file else ""
    kind = "KIND_GPU" if gpu else "KIND_CPU"
    return f"""# Written by deploy/export_classifier.py: torchvision ResNet-50 (ImageNet), ONNX.
# Input: the classify pipeline's output (CHW float32, ImageNet-normalized). Output: logits
# (softmax not applied); the worker's route computes top-k labels from them (labels.txt).
name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch_size}
input [
  {{ name: "{INPUT_NAME}", data_type: TYPE_FP32, dims: [ {c}, {h}, {w} ] }}
]
output [
  {{ name: "{OUTPUT_NAME}", data_type: TYPE_FP32, dims: [ {NUM_CLASSES} ]{label} }}
]
instance_group [ {{ kind: {kind}, count: 1 }} ]
dynamic_batching {{ max_queue_delay_microseconds: {queue_delay_us} }}
"""


def labels_text(categories: list[str]) -> str:
    """One label per line, line i = class i (the format worker/inference/labels.py reads and
    Triton's label_filename expects)."""
    if len(categories) != NUM_CLASSES:
        raise ValueError(f"expected {NUM_CLASSES} categories, got {len(categories)}")
    bad = [c for c in categories if not c.strip() or "\n" in c]
    if bad:
        raise ValueError(f"categories must be non-empty single lines: {bad[:3]}")
    return "".join(c.strip() + "\n" for c in categories)


def write_repository_files(model_dir: Path, categories: list[str], **config) -> None:
    """config.pbtxt and labels.txt (the ONNX file is written by export_onnx)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(config_text(name=model_dir.name, **config))
    (model_dir / LABELS_FILE).write_text(labels_text(categories))


def export_onnx(model, path: Path, opset: int = OPSET) -> None:
    """Trace ``model`` with a dynamic batch axis into one self-contained ONNX file."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.randn(2, *INPUT_SHAPE)
    kwargs = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset,
                  dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    params = inspect.signature(torch.onnx.export).parameters
    if "external_data" in params:
        kwargs["external_data"] = False  # one file: ResNet-50 (~100 MB) is far below 2 GB
    tmp = path.with_suffix(".onnx.tmp")
    with torch.no_grad():
        if "dynamo" in params:
            try:  # the TorchScript exporter: stable dynamic_axes, no onnxscript needed
                torch.onnx.export(model, (example,), str(tmp), dynamo=False, **kwargs)
            except Exception as exc:  # noqa: BLE001 - newer torch may have dropped it
                print(f"TorchScript ONNX export failed ({exc}); trying the dynamo exporter",
                      file=sys.stderr)
                torch.onnx.export(model, (example,), str(tmp), dynamo=True, **kwargs)
        else:
            torch.onnx.export(model, (example,), str(tmp), **kwargs)
    tmp.replace(path)


def check_onnx(model, path: Path) -> str:
    """Compare ONNX Runtime with PyTorch on a random batch, where onnxruntime is installed."""
    try:
        import numpy as np
        import onnxruntime as ort
        import torch
    except ImportError:
        return "not checked (pip install onnxruntime to compare with PyTorch)"
    x = torch.randn(3, *INPUT_SHAPE)
    with torch.no_grad():
        want = model(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    err = float(np.max(np.abs(got - want)))
    if got.shape != (3, NUM_CLASSES) or err > 1e-2:
        raise SystemExit(f"ONNX check failed: shape {got.shape}, max abs difference {err}")
    return f"ONNX Runtime matches PyTorch (batch 3, max abs difference {err:.1e})"


def model_files(model_dir: Path, version: int = 1) -> list[Path]:
    """What a complete export leaves behind; Triton and the worker's route need all three."""
    return [model_dir / str(version) / "model.onnx", model_dir / "config.pbtxt", model_dir / LABELS_FILE]


def is_complete(model_dir: Path, version: int = 1) -> bool:
    """Every file of the export is there and not empty (an interrupted export is not)."""
    return all(p.is_file() and p.stat().st_size > 0 for p in model_files(model_dir, version))


def match_owner(repository: Path, paths: list[Path]) -> None:
    """Give ``paths`` the owner of ``repository`` when running as root: the compose service runs
    as the image's root so that it can write into ./pipelines whoever owns it, and this hands the
    files back to that owner (your user). A no-op as any other user or where the owner is root
    (rootless Docker shows your user as root in the container)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    st = os.stat(repository)
    if st.st_uid == 0 and st.st_gid == 0:
        return
    for path in paths:
        if not os.path.lexists(path):
            continue
        try:
            os.chown(path, st.st_uid, st.st_gid)
        except OSError as exc:
            print(f"could not give {path} to {st.st_uid}:{st.st_gid} ({exc}); it stays root's",
                  file=sys.stderr)
            return


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repository", type=Path, default=Path(__file__).resolve().parent.parent / "pipelines",
                   help="model repository to write into (default: the project's pipelines/)")
    p.add_argument("--name", default=MODEL_NAME, help=f"model folder name (default {MODEL_NAME})")
    p.add_argument("--version", type=int, default=1, help="version folder (default 1)")
    p.add_argument("--weights", default="IMAGENET1K_V2", choices=["IMAGENET1K_V2", "IMAGENET1K_V1", "none"],
                   help="torchvision weights (default IMAGENET1K_V2, 80.9%% top-1); none: random")
    p.add_argument("--max-batch-size", type=int, default=128, help="Triton max_batch_size (default 128)")
    p.add_argument("--cpu", action="store_true", help="instance_group KIND_CPU (Triton without a GPU)")
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--force", action="store_true", help="overwrite an existing model.onnx")
    existing.add_argument("--if-missing", action="store_true",
                          help="exit 0 without exporting when model.onnx, config.pbtxt and labels.txt "
                               "are all there (what docker compose runs on every start); an "
                               "incomplete export is done again")
    p.add_argument("--match-owner", action="store_true",
                   help="when running as root, give the files written the owner of --repository")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    model_dir = args.repository / args.name
    onnx_path = model_dir / str(args.version) / "model.onnx"
    # decided before importing torch: the skip costs nothing and needs no PyTorch
    if args.if_missing and is_complete(model_dir, args.version):
        print(f"{args.name}: already exported ({onnx_path}, config.pbtxt, {LABELS_FILE}); "
              f"nothing to do (--force to export again)")
        return 0
    if args.if_missing and onnx_path.exists():
        print(f"{args.name}: incomplete export in {model_dir}; exporting again", file=sys.stderr)
    elif onnx_path.exists() and not args.force:
        print(f"{onnx_path} exists; --force to overwrite", file=sys.stderr)
        return 1

    try:
        import onnx  # noqa: F401  - torch.onnx.export imports it (torch 2.5: even the TorchScript exporter)
        import torch  # noqa: F401
        from torchvision.models import ResNet50_Weights, resnet50
    except ImportError as exc:
        print(f"needs PyTorch, torchvision and onnx ({exc}): pip install torch torchvision onnx "
              "(or: docker compose run --rm export-classifier)", file=sys.stderr)
        return 2

    # the category names ship with torchvision (no download); use them for random weights too
    categories = list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])
    weights = None if args.weights == "none" else ResNet50_Weights[args.weights]
    if weights is not None:
        print(f"{args.name}: ResNet-50 {args.weights} weights (about 100 MB; downloaded on first use)",
              flush=True)
    try:
        model = resnet50(weights=weights).eval()
        export_onnx(model, onnx_path)
        write_repository_files(model_dir, categories, max_batch_size=args.max_batch_size, gpu=not args.cpu)
    finally:
        if args.match_owner:  # after a failure too: what it created stays the owner's to delete
            match_owner(args.repository, [model_dir, onnx_path.parent, onnx_path.with_suffix(".onnx.tmp"),
                                          *model_files(model_dir, args.version)])
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.0f} MB), "
          f"{model_dir / 'config.pbtxt'}, {model_dir / LABELS_FILE} ({len(categories)} labels)")
    print(check_onnx(model, onnx_path))
    if weights is None:
        print("random weights (--weights none): the predictions mean nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
