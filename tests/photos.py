"""The test corpus: real photographs that scikit-image ships under ``skimage/data``,
re-encoded as JPEG and PNG at a few sizes (no downloads), plus corrupt samples.

Files are written once into a cache folder under the system temp dir (keyed by the corpus
parameters) and reused by later test sessions.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

# colour photographs first; camera is greyscale (decoders must still give 3 channels)
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg",
          "retina.jpg", "hubble_deep_field.jpg", "motorcycle_right.png", "camera.png",
          "color.png", "brick.png", "ihc.png")
SIZES = (96, 200, 360)          # longest side in pixels
FORMATS = ("jpeg", "png")


def skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def _cache_dir(key: str) -> Path:
    d = Path(os.environ.get("DSW_TEST_CACHE", tempfile.gettempdir())) / f"dsw-photos-{key}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def encode(image, fmt: str, longest: int, quality: int = 90) -> bytes:
    """One PIL image resized so its longest side is ``longest``, encoded as ``fmt``."""
    from PIL import Image

    img = image.convert("RGB") if image.mode not in ("RGB", "L") else image
    scale = longest / max(img.size)
    size = (max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale)))
    img = img.resize(size, Image.BICUBIC)
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, format="JPEG", quality=quality)
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def photo_files(photos=PHOTOS, sizes=SIZES, formats=FORMATS) -> list[Path]:
    """Paths of the encoded corpus, ordered by (photo, size, format); cached on disk."""
    from PIL import Image

    key = hashlib.sha1(repr((photos, sizes, formats)).encode()).hexdigest()[:12]
    out_dir = _cache_dir(key)
    paths = []
    for name in photos:
        stem = name.rsplit(".", 1)[0]
        image = None
        for size in sizes:
            for fmt in formats:
                path = out_dir / f"{stem}_{size}.{'jpg' if fmt == 'jpeg' else 'png'}"
                if not path.exists():
                    if image is None:
                        image = Image.open(skimage_data_dir() / name)
                        image.load()
                    tmp = path.with_suffix(path.suffix + ".tmp")
                    tmp.write_bytes(encode(image, fmt, size))
                    tmp.replace(path)
                paths.append(path)
    return paths


def photo_bytes(n: int | None = None, **kwargs) -> list[bytes]:
    """The corpus as encoded bytes; with ``n``, cycled or cut to exactly ``n`` samples."""
    data = [p.read_bytes() for p in photo_files(**kwargs)]
    if n is None:
        return data
    return [data[i % len(data)] for i in range(n)]


def jpeg_bytes(n: int | None = None) -> list[bytes]:
    return photo_bytes(n, formats=("jpeg",))


def truncated_jpeg() -> bytes:
    """A JPEG cut inside its header: no decoder can make an image of it."""
    return jpeg_bytes(1)[0][:200]


def random_bytes(n: int = 4096, seed: int = 7) -> bytes:
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def corrupt_samples() -> dict[str, bytes]:
    return {"truncated_jpeg": truncated_jpeg(), "random_bytes": random_bytes()}
