"""(c) The baseline a user would write: an aiokafka consumer that decodes and resizes each
image with Pillow and NumPy, then publishes the result.

Transform, as ``pipelines/classify``: decode to RGB, resize shorter side to 256 (bilinear),
centre crop 224, normalize with the ImageNet mean and std, CHW float32; ``--reduce`` then takes
the per-channel mean (as ``pipelines/classify_reduce``), so results are tiny.

``python -m bench.pil_consumer``            Pillow alone from memory (images/s, p50/p99 per image)
``python -m bench.pil_consumer --serve ...`` one consumer process (``bench/e2e.py`` starts K)
"""
from __future__ import annotations

import argparse
import asyncio
import io
import signal
import sys
import time

import numpy as np

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255


def preprocess(data: bytes) -> np.ndarray:
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    scale = 256 / min(w, h)
    img = img.resize((max(224, round(w * scale)), max(224, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    x = (np.asarray(img, dtype=np.float32) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def alone(data: list[bytes], images: int = 300) -> dict:
    """Pillow alone from memory, one process, one image at a time."""
    from bench import common

    preprocess(data[0])
    lat = []
    t0 = time.perf_counter()
    for i in range(images):
        t = time.perf_counter()
        preprocess(data[i % len(data)])
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    return {"images": images, "seconds": round(wall, 3), "images_per_s": round(images / wall, 1),
            "image_latency": common.latency_summary(lat), "processes": 1}


async def serve(bootstrap: str, inputs: list[str], output: str, group: str, batch: int, reduce: bool):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from bench.kafka_io import BIG, result_value

    consumer = AIOKafkaConsumer(*inputs, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=BIG, fetch_max_bytes=64 * 1024 * 1024)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=BIG, linger_ms=5)
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=batch)
            futs = []
            for records in batches.values():
                for r in records:
                    x = preprocess(r.value)
                    out = x.mean(axis=(1, 2)) if reduce else x
                    value = result_value(r, {"out": {"dtype": "float32", "shape": list(out.shape),
                                                     "data": out.astype(np.float32).tobytes()}})
                    futs.append(await producer.send(output, value))
            if futs:
                await asyncio.gather(*futs)
                await consumer.commit()  # at-least-once: results acknowledged first
    finally:
        await producer.stop()
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pil_consumer", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", action="store_true", help="run one consumer until SIGTERM")
    ap.add_argument("--bootstrap")
    ap.add_argument("--inputs", help="comma-separated input topics")
    ap.add_argument("--output")
    ap.add_argument("--group", default="bench-pil")
    ap.add_argument("--batch-size", type=int, default=32, help="max records per poll")
    ap.add_argument("--reduce", action="store_true", help="publish per-channel means, not tensors")
    ap.add_argument("--images", type=int, default=300, help="alone mode: images to process")
    ap.add_argument("--corpus", default="bench/corpus")
    args = ap.parse_args(argv)
    if args.serve:
        if not (args.bootstrap and args.inputs and args.output):
            ap.error("--serve needs --bootstrap, --inputs and --output")
        asyncio.run(serve(args.bootstrap, args.inputs.split(","), args.output, args.group,
                          args.batch_size, args.reduce))
        return 0
    from bench import common, corpus

    res = alone(corpus.load(args.corpus), args.images)
    print(f"Pillow alone: {res['images_per_s']} img/s, p50 {res['image_latency']['p50_ms']} ms, "
          f"p99 {res['image_latency']['p99_ms']} ms")
    print("wrote", common.write_result("pil_alone", res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
