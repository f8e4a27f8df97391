"""The load-time warning for a served pipeline that holds training-only operators (readers,
random operators), read from the serialized graph with DALI's own operator schemas."""
from pathlib import Path

from worker.repository import training_ops

ROOT = Path(__file__).resolve().parents[2]
SERVED = ROOT / "examples" / "training_to_serving" / "repository" / "efficientnet_preprocess" / "1" / "dali.py"


def _serialized(build) -> bytes:
    from nvidia.dali import pipeline_def

    return pipeline_def(build, batch_size=2, num_threads=1, device_id=None)().serialize()


def test_training_operators_are_found_by_their_fn_names(tmp_path):
    from nvidia.dali import fn, types

    def training():
        jpegs, labels = fn.readers.file(file_root=str(tmp_path), random_shuffle=True, name="Reader")
        images = fn.decoders.image_random_crop(jpegs, device="cpu", output_type=types.RGB)
        images = fn.random_resized_crop(images, size=(8, 8))
        images = fn.noise.gaussian(images)
        return fn.crop_mirror_normalize(images, mirror=fn.random.coin_flip(),
                                        crop_pos_x=fn.random.uniform(range=(0, 1))), labels

    found = training_ops.find(_serialized(training))
    names = {op.fn_name: op for op in found}
    assert set(names) == {"fn.readers.file", "fn.decoders.image_random_crop", "fn.random_resized_crop",
                          "fn.noise.gaussian", "fn.random.coin_flip", "fn.random.uniform"}
    assert names["fn.readers.file"].kind == "reader" and "random_shuffle=True" in names["fn.readers.file"].describe()
    text = training_ops.warning("m", 1, found)
    assert "fn.readers.file" in text and "named fn.external_source" in text and "dali-worker compare m" in text


def test_the_served_example_and_the_repository_pipelines_have_no_training_operators():
    from worker.repository.load import autoserialize

    for path in [SERVED, *sorted((ROOT / "pipelines").glob("*/1/dali.py"))]:
        assert training_ops.find(autoserialize(path, "cpu", path.parent.parent.name)) == [], path


def test_load_warns_once_naming_the_operator(tmp_path, caplog):
    import logging

    from worker.repository.load import load_model

    version = tmp_path / "augmented" / "1"
    version.mkdir(parents=True)
    (version / "dali.py").write_text(
        "from nvidia.dali import fn, pipeline_def, types\n"
        "from nvidia.dali.plugin.triton import autoserialize\n\n"
        "@autoserialize\n"
        "@pipeline_def(batch_size=4, num_threads=1, device_id=None, output_dtype=[types.UINT8], output_ndim=[3])\n"
        "def augmented():\n"
        "    image = fn.external_source(name='image', dtype=types.UINT8, ndim=1)\n"
        "    image = fn.decoders.image(image, device='cpu')\n"
        "    return fn.flip(image, horizontal=fn.random.coin_flip())\n")
    with caplog.at_level(logging.WARNING, logger="worker.repository.load"):
        load_model(tmp_path, "augmented", device="cpu")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "model 'augmented' version 1" in warnings[0] and "fn.random.coin_flip" in warnings[0]
    assert "named fn.external_source" not in warnings[0]   # no reader: no advice about one
