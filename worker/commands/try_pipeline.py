"""Run a pipeline of the model repository on local files, without Kafka: the no-Docker way to
try a pipeline. Each file is one sample of the pipeline's encoded-media input; prints each
output's name, dtype, shape and a short summary (min/max/mean), or saves .npy files.

Examples:
  dali-worker try classify tests/data/*.jpg
  dali-worker try crop_window tests/data/chelsea.jpg --value window=0.25,0.25,0.5,0.5
  dali-worker try classify photo.jpg --save out/ --device 0
  dali-worker try video_frames clip.webm --cut frame          # a clip: its frames as results
  dali-worker try audio_melspec talk.flac --cut sequence --sequence-length 100

Each file is admitted as the worker admits a message before the pipeline runs: an image must be
an image file whose header declares no more than the worker's max_pixels (64 MP; a 2.6 MB PNG
declaring 30000x30000 is refused as `image_too_large`, not decoded); video (MP4, MKV, WebM) and
audio (WAV, FLAC, Ogg) are read as the worker reads them: what their container declares is
printed, and a clip the worker would refuse (a codec this device does not decode, truncated,
damaged, decoded short of its declared frames) is an ERROR line. Every ERROR line carries the
reason code the file's dead letter would have. --version runs only a version the model's
version_policy serves, as `run` does.

The repository is --repository, else $DSW_REPOSITORY, else ./pipelines. Python pipelines see
DALI_DEVICE=cpu or gpu (from --device) when they are serialized.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("pipeline", help="model name in the repository (a folder of it)")
    p.add_argument("files", nargs="+", type=Path, help="input files, one sample each")
    p.add_argument("--repository", type=Path, default=None,
                   help="model repository (default: $DSW_REPOSITORY, else ./pipelines)")
    p.add_argument("--version", type=int, default=None,
                   help="model version, one its version_policy serves (default: the highest served)")
    p.add_argument("--device", default=os.environ.get("DSW_DEVICE", "cpu"),
                   help="cpu or a GPU id (default: $DSW_DEVICE, else cpu)")
    p.add_argument("--input", dest="input_name", default=None,
                   help="input the files feed (default: the model's only uint8 1-D input)")
    p.add_argument("--value", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="the same value for another input of every sample, e.g. window=0,0,1,1")
    p.add_argument("--feed", choices=("ragged", "padded"), default="ragged",
                   help="how batches are fed (default ragged)")
    p.add_argument("--batch-size", type=int, default=None, help="max batch size (default: the model's)")
    p.add_argument("--threads", type=int, default=None, help="DALI CPU threads (default: the model's)")
    p.add_argument("--cast", default=None, help="cast all outputs, e.g. float16 or uint8")
    p.add_argument("--cut", choices=("clip", "frame", "sequence"), default="clip",
                   help="how the worker's route would cut each input's outputs into results (default clip)")
    p.add_argument("--sequence-length", type=int, default=0, help="with --cut sequence: rows per result")
    p.add_argument("--sequence-stride", type=int, default=0, help="with --cut sequence: rows between starts")
    p.add_argument("--save", type=Path, default=None, metavar="DIR",
                   help="save outputs as DIR/<file stem>.<output>.npy instead of printing summaries")


def summary(arr) -> str:
    import numpy as np

    if arr.size == 0:
        return "empty"
    a = arr.astype(np.float64) if arr.dtype.kind in "biuf" else arr
    return f"min {a.min():.4g} max {a.max():.4g} mean {a.mean():.4g}"


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit status 2."""


def _pick_input(model, wanted: str | None) -> str:
    import numpy as np

    names = model.input_names
    if wanted:
        if wanted not in names:
            raise UsageError(f"model {model.name!r} has no input {wanted!r} (inputs: {', '.join(names)})")
        return wanted
    media = [i.name for i in model.inputs if i.dtype == np.uint8 and i.ndim == 1]
    if len(media) == 1:
        return media[0]
    raise UsageError(f"model {model.name!r} has inputs {', '.join(names)}: say which one the "
                     f"files feed with --input NAME")


def _example(spec) -> str:
    import numpy as np

    n = spec.dims[0] if len(spec.dims) == 1 and spec.dims[0] > 0 else 2
    one = "1" if np.dtype(spec.dtype).kind in "biu" else "0.5"
    return f"--value {spec.name}={','.join([one] * n)}"


def _as(dtype, number: float):
    import numpy as np

    with np.errstate(over="ignore"):
        return dtype.type(number)


def parse_value(spec, text: str):
    """``V1,V2,...`` as a 1-D array of the input's dtype; UsageError unless every value is a
    number that the dtype holds exactly (no 1.7 for INT32, no 300 or -1 for UINT8)."""
    import numpy as np

    dtype = np.dtype(spec.dtype)
    where = f"input {spec.name!r} is {dtype.name} with dims {list(spec.dims)}, e.g. {_example(spec)}"
    values = []
    for item in (v.strip() for v in text.split(",")):
        if not item:
            continue
        try:
            number = float(item)
        except ValueError:
            raise UsageError(f"--value {spec.name}={text}: {item!r} is not a number; {where}") from None
        if dtype.kind in "biu":
            if not number.is_integer():
                raise UsageError(f"--value {spec.name}={text}: {item} is not an integer; {where}")
            number = int(item) if item.lstrip("+-").isdigit() else int(number)
            low, high = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
            if not low <= number <= high:
                raise UsageError(f"--value {spec.name}={text}: {item} is outside {dtype.name}'s "
                                 f"range {low}..{high}; {where}")
        elif np.isfinite(number) and not np.isfinite(_as(dtype, number)):
            raise UsageError(f"--value {spec.name}={text}: {item} overflows {dtype.name}; {where}")
        values.append(number)
    return np.array(values, dtype=dtype)


def _values(model, items: list[str], media_input: str) -> dict:
    specs = {i.name: i for i in model.inputs}
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in specs:
            raise UsageError(f"--value {item!r}: use NAME=V1,V2,... with NAME one of "
                             f"{', '.join(specs)}")
        out[name] = parse_value(specs[name], text)
    missing = [n for n in specs if n != media_input and n not in out]
    if missing:
        raise UsageError(f"model {model.name!r} also needs input(s) {', '.join(missing)}: give "
                         f"them with --value NAME=V1,V2,...")
    return out


def _route(args):
    from worker.config import ConfigError, Route

    route = Route(inputs=["try"], cut=args.cut, sequence_length=args.sequence_length,
                  sequence_stride=args.sequence_stride)
    try:
        route.check("--cut")
    except ConfigError as e:
        raise UsageError(str(e).replace("cut = \"sequence\" needs sequence_length", "--cut sequence needs "
                                        "--sequence-length")) from None
    return route


def _check_image(data: bytes, route, model, input_name: str, path: Path):
    """(None, None), or (None, why the worker would refuse it): the stream's own admission of an
    input that feeds an image decoder (worker/stream/routing.py), before anything decodes."""
    from worker.pipeline.media import describe_head, image_format
    from worker.stream.errors import MessageError
    from worker.stream.routing import Router

    fmt = image_format(data)
    if fmt is None:
        return None, (f"[decode_error] input {input_name!r} of pipeline {model.name!r} is not an image "
                      f"file (first bytes {describe_head(data)}); send JPEG, PNG, TIFF, BMP, GIF, WebP, JPEG 2000 or PNM bytes")
    try:
        Router._check_size(data, fmt, input_name, route, str(path), model.name)
    except MessageError as e:
        return None, f"[{e.reason}] {e}"
    return None, None


def _check_media(data: bytes, media, route, model, input_name: str, path: Path):
    """(frames the decoder should give, None), or (None, why the worker would refuse it)."""
    from worker.pipeline.containers import ContainerError, probe
    from worker.stream.errors import MessageError
    from worker.stream.media_checks import check_media

    try:
        print(f"{path}: {probe(data).describe()}")
    except ContainerError:
        pass
    try:
        device = "cpu" if model.device in ("cpu", None) else str(model.device)
        return check_media(data, media.kind, media.stride, route, device, msg_id=str(path),
                           input_name=input_name, pipeline=model.name, label=repr(str(path))), None
    except MessageError as e:
        return None, f"[{e.reason}] {e}"


def main(args) -> int:
    from worker.pipeline.media import decoder_inputs, media_inputs
    from worker.pipeline.runner import PipelineRunner
    from worker.stream.fanout import cut, shortfall
    from worker.repository.errors import RepositoryError
    from worker.repository.find import default_repository
    from worker.repository.load import load_model

    repository = args.repository or default_repository()
    try:
        model = load_model(repository, args.pipeline, args.version, device=args.device,
                           num_threads=args.threads, max_batch_size=args.batch_size)
    except RepositoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        media_input = _pick_input(model, args.input_name)
        fixed = _values(model, args.value, media_input)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        route = _route(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    samples, checked = [], []
    media = media_inputs(model.serialized).get(media_input)
    image = media_input in decoder_inputs(model.serialized)
    for path in args.files:
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 2
        data = path.read_bytes()
        checked.append((None, f"[empty_value] {path} is empty: the worker dead-letters an empty value")
                       if not data else
                       _check_media(data, media, route, model, media_input, path) if media else
                       _check_image(data, route, model, media_input, path) if image else (None, None))
        samples.append({media_input: data, **fixed})
    runner = PipelineRunner(model, feed=args.feed, output_cast=args.cast)
    ready = [i for i, (_, err) in enumerate(checked) if err is None]
    ran = dict(zip(ready, runner.run([samples[i] for i in ready]))) if ready else {}
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    failed = 0
    print(f"model {model.name} version {model.version} on {model.device}: {len(samples)} file(s)")
    for i, path in enumerate(args.files):
        expect, refused = checked[i]
        if refused:
            failed += 1
            print(f"{path}: ERROR {refused}")
            continue
        res = ran[i]
        if not res.ok:
            failed += 1
            print(f"{path}: ERROR [{res.reason or 'decode_error'}] {res.error}")
            continue
        short = shortfall(res.outputs, expect)
        if short:
            failed += 1
            print(f"{path}: ERROR [incomplete_media] {short}")
            continue
        print(f"{path}:" + (f" ({expect} frames expected)" if expect is not None else ""))
        if args.cut != "clip" or model.split:
            parts = cut(res.outputs, route, model.split)
            first = ", ".join(f"{n} {list(a.shape)}" for n, a in parts[0].outputs.items())
            how = (f"split along the outer axis ({', '.join(sorted(model.split))}, "
                   "split_along_outer_axis)" if model.split and args.cut == "clip" else f"cut {args.cut}")
            print(f"  {how}: {len(parts)} results (the first: {first})")
        for name, arr in res.outputs.items():
            line = f"  {name}: {arr.dtype} {list(arr.shape)}"
            if args.save:
                import numpy as np

                out = args.save / f"{path.stem}.{name}.npy"
                np.save(out, arr)
                line += f" -> {out}"
            else:
                line += f"  {summary(arr)}"
            print(line)
    return 1 if failed else 0
