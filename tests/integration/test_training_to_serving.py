"""The example of examples/training_to_serving (DALI's guide "from training to inference") served
as it is by a real Triton with its own DALI backend (tests/dali_backend_server.py, CPU): the DALI
model answers the validation pipeline's tensors bit for bit, one request per image and in one
zero-padded batch, and the ensemble (bytes -> efficientnet_preprocess -> classifier) answers the
classifier's logits of those tensors; and the two routes of docs/training-to-stream.md, run by a
worker on the real broker (tensors to the classifier, or bytes to the ensemble), publish those
logits. `dali-worker compare` proves the same adaptation in process (tests/unit/test_compare.py);
this proves that Triton, and a topic, get what it checked."""
from __future__ import annotations

import asyncio
import importlib.util
import re
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from tests.dali_backend_server import dali_backend_or_skip, running_dali_triton
from tests.triton_server import PREAMBLE, ensure_triton

tritonclient_grpc = pytest.importorskip("tritonclient.grpc")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "training_to_serving"
REPOSITORY = EXAMPLE / "repository"
PHOTOS = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "motorcycle.png", "rocket.jpg"]


def _files(model: str) -> dict[str, str]:
    """A model folder of the example as {relative path: text}, model.py with the sys.path
    preamble the Python backend's stub needs (it does not see this virtualenv's numpy)."""
    numpy_dir = str(ensure_triton().stub_numpy)
    out = {}
    for path in sorted((REPOSITORY / model).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = str(path.relative_to(REPOSITORY / model))
            text = path.read_text()
            if path.name == "model.py":
                text = PREAMBLE.format(numpy_dir=numpy_dir, template=f"(examples) {model}") + text
            out[rel] = text
    return out


@pytest.fixture(scope="module")
def server():
    build = dali_backend_or_skip()
    extra = {"classifier": _files("classifier"), "efficientnet_ensemble": _files("efficientnet_ensemble")}
    with running_dali_triton(["efficientnet_preprocess"], build=build, repository=REPOSITORY,
                             extra=extra) as srv:
        yield srv


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("val")
    (root / "photos").mkdir()
    for name in PHOTOS:
        shutil.copy(ROOT / "tests" / "data" / name, root / "photos" / name)
    return root


def validation_tensors(data: Path) -> dict[str, np.ndarray]:
    """What the model was validated on: validation_pipe reading the folder itself."""
    from worker.commands.compare import import_reference

    pipe = import_reference(f"{EXAMPLE / 'validation.py'}:validation_pipe")(
        data_dir=str(data), dali_cpu=True, batch_size=len(PHOTOS), num_threads=1, device_id=None)
    pipe.build()
    images, _labels = pipe.run()
    return {Path(images[i].source_info()).name: np.array(images[i]) for i in range(len(images))}


def classifier_logits(batch: np.ndarray) -> np.ndarray:
    """The example classifier's own function, imported outside Triton (its pb_utils stubbed)."""
    sys.modules.setdefault("triton_python_backend_utils", types.ModuleType("triton_python_backend_utils"))
    spec = importlib.util.spec_from_file_location("_example_classifier", REPOSITORY / "classifier" / "1" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.logits(batch)


def infer(server, model: str, encoded: list[bytes], output: str) -> np.ndarray:
    """One request: the encoded files zero-padded to the longest, as Triton clients send them."""
    batch = np.zeros((len(encoded), max(map(len, encoded))), np.uint8)
    for row, data in zip(batch, encoded):
        row[:len(data)] = np.frombuffer(data, np.uint8)
    name = {"efficientnet_preprocess": "DALI_INPUT", "efficientnet_ensemble": "INPUT"}[model]
    tensor = tritonclient_grpc.InferInput(name, list(batch.shape), "UINT8")
    tensor.set_data_from_numpy(batch)
    client = tritonclient_grpc.InferenceServerClient(server.grpc_url)
    result = client.infer(model, [tensor], outputs=[tritonclient_grpc.InferRequestedOutput(output)])
    return result.as_numpy(output)


def test_tritons_dali_model_serves_the_validated_tensors(server, photos):
    want = validation_tensors(photos)
    assert set(want) == set(PHOTOS)
    encoded = [(photos / "photos" / name).read_bytes() for name in PHOTOS]
    batch = infer(server, "efficientnet_preprocess", encoded, "DALI_OUTPUT")
    assert batch.shape == (len(PHOTOS), 3, 224, 224) and batch.dtype == np.float32
    for name, got in zip(PHOTOS, batch):
        assert np.array_equal(got, want[name]), f"{name}: padded batch differs from validation"
    for name, data in zip(PHOTOS, encoded):
        (alone,) = infer(server, "efficientnet_preprocess", [data], "DALI_OUTPUT")
        assert np.array_equal(alone, want[name]), f"{name}: one request differs from validation"


def test_the_ensemble_answers_the_classifier_of_the_validated_tensors(server, photos):
    want_tensors = validation_tensors(photos)
    want = classifier_logits(np.stack([want_tensors[n] for n in PHOTOS]))
    encoded = [(photos / "photos" / name).read_bytes() for name in PHOTOS]
    got = infer(server, "efficientnet_ensemble", encoded, "OUTPUT")
    assert got.shape == (len(PHOTOS), 10)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert len({int(np.argmax(row)) for row in want}) > 1   # more than one row of W compared


def docs_routes() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (ROOT / "docs" / "training-to-stream.md").read_text(), re.S)


@pytest.mark.parametrize("which", [0, 1], ids=["tensors-to-classifier", "bytes-to-ensemble"])
def test_the_docs_routes_publish_the_validated_predictions(kafka_bootstrap, server, photos, tmp_path, which):
    from tests.integration.test_stream_inference import Tail, names, wait_committed_to_end
    from tests.worker_harness import WorkerProcess, produce, setup_topics

    topics = setup_topics(kafka_bootstrap, names("t2s"), 2)
    route = docs_routes()[which]
    for old, new in (('"images"', f'"{topics[0]}"'), ('"predictions"', f'"{topics[1]}"'),
                     ('"127.0.0.1:8001"', f'"{server.grpc_url}"')):
        assert route.count(old) == 1, (old, route)
        route = route.replace(old, new)
    config = tmp_path / "worker.toml"
    config.write_text(f'dead_letter_topic = "{topics[2]}"\ncommit_interval_ms = 300\nnum_threads = 2\n\n{route}')
    want_tensors = validation_tensors(photos)
    want = dict(zip(PHOTOS, classifier_logits(np.stack([want_tensors[n] for n in PHOTOS]))))
    items = [(name, (photos / "photos" / name).read_bytes()) for name in PHOTOS]
    asyncio.run(produce(kafka_bootstrap, topics[0], items, partitions=2))
    group = names("g")
    args = ["--config", str(config), "--group-id", group, "--repository", str(REPOSITORY), "--device", "cpu"]
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log") as worker, \
            Tail(kafka_bootstrap, topics[1], topics[2]) as tail:
        seen = tail.wait(lambda s: s.ids >= set(PHOTOS), 180, "every photo's outcome", worker)
        wait_committed_to_end(kafka_bootstrap, group, topics[0], 2)
        assert worker.terminate() == 0, worker.log()[-3000:]
    assert not seen.dead, {k: [d.error[:300] for d in v] for k, v in seen.dead.items()}
    for name, results in seen.results.items():
        (res,) = results
        assert res.pipeline == "efficientnet_preprocess"
        if which == 0:   # top_k = 3: Triton's classification extension, labels.txt of the model
            top = np.argsort(-want[name], kind="stable")[:3]
            assert [(lab.index, lab.label) for lab in res.labels["OUTPUT__0"]] == \
                   [(int(i), f"class_{i}") for i in top], name
            assert [lab.score for lab in res.labels["OUTPUT__0"]] == \
                   pytest.approx([float(want[name][i]) for i in top], rel=1e-5, abs=1e-5)
        else:            # the ensemble's logits
            np.testing.assert_allclose(res.outputs["OUTPUT"], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
