"""Make a benchmark corpus from the photographs scikit-image ships (no downloads).

``python -m bench.corpus --out bench/corpus --count 300`` writes ``count`` files: random crops
and scales of the colour photographs, longest side 300-1280 px (ImageNet's images are mostly
300-500 px with a tail to over 1000), JPEG quality 75-95, about 10% PNG. The seed makes it
deterministic: the same arguments give the same bytes on every machine with the same Pillow.
"""
from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png",
          "motorcycle_right.png", "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg",
          "color.png", "ihc.png")


def _sources():
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    out = []
    for name in PHOTOS:
        path = data / name
        if path.exists():
            out.append((path.stem, Image.open(path).convert("RGB")))
    if not out:
        raise SystemExit(f"no photographs found under {data}: reinstall scikit-image")
    return out


def _longest_side(rng: random.Random) -> int:
    # most between 300 and 640, a quarter up to 1280
    return rng.randint(300, 640) if rng.random() < 0.75 else rng.randint(641, 1280)


def make(out: Path, count: int = 300, seed: int = 7, png_fraction: float = 0.1) -> list[Path]:
    from PIL import Image

    rng = random.Random(seed)
    sources = _sources()
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("img-*")):
        old.unlink()
    paths = []
    for i in range(count):
        stem, img = sources[i % len(sources)]
        w, h = img.size
        # crop 50-100% of each side, anywhere, then scale to the chosen longest side
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = img.crop((x, y, x + cw, y + ch))
        longest = _longest_side(rng)
        scale = longest / max(crop.size)
        crop = crop.resize((max(16, round(cw * scale)), max(16, round(ch * scale))), Image.BICUBIC)
        buf = io.BytesIO()
        if rng.random() < png_fraction:
            crop.save(buf, format="PNG")
            ext = "png"
        else:
            crop.save(buf, format="JPEG", quality=rng.randint(75, 95))
            ext = "jpg"
        path = out / f"img-{i:05d}-{stem}.{ext}"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def load(folder: str | Path = "bench/corpus", count: int = 300) -> list[bytes]:
    """The corpus as bytes, made first if the folder is missing or smaller than ``count``."""
    folder = Path(folder)
    paths = sorted(folder.glob("img-*"))
    if len(paths) < count:
        paths = make(folder, count)
    return [p.read_bytes() for p in paths[:count]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/corpus", type=Path)
    ap.add_argument("--count", default=300, type=int)
    ap.add_argument("--seed", default=7, type=int)
    args = ap.parse_args(argv)
    paths = make(args.out, args.count, args.seed)
    sizes = [p.stat().st_size for p in paths]
    pngs = sum(p.suffix == ".png" for p in paths)
    print(f"{len(paths)} files in {args.out} ({pngs} PNG), mean {sum(sizes) / len(sizes) / 1024:.1f} KB, "
          f"total {sum(sizes) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
