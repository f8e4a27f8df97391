"""Issue 31's repositories (a split video model, an unbatched model, a version policy; and
max_batch_size -1, which Triton's core refuses) in Triton's own DALI backend (libtriton_dali.so built by deploy/dali_backend/build.sh;
skipped when it is not built) against the worker loading the same files: the same completed
configuration and, output for output, the same tensors (bit for bit: both run the worker's
libdali.so on the CPU). The models are those of tests/unit/test_backend_parity.py."""
from __future__ import annotations

import numpy as np
import pytest

from tests import media
from tests.dali_backend_server import dali_backend_or_skip, running_dali_triton
from tests.unit.test_backend_parity import PLUS, SPLIT_CONFIG, SPLIT_VIDEO, UNBATCHED

tritonclient_grpc = pytest.importorskip("tritonclient.grpc")

PLUS_CONFIG = ('backend: "dali"\nversion_policy: { specific: { versions: [2] } }\n'
               'output [ { name: "OUT" data_type: TYPE_INT32 dims: [ -1 ] } ]\n')
REPO = {
    "video_split": {"1/dali.py": SPLIT_VIDEO, "config.pbtxt": SPLIT_CONFIG},
    "unbatched": {"1/dali.py": UNBATCHED, "config.pbtxt": 'backend: "dali"\nmax_batch_size: 0\n'},
    "plus": {"1/dali.py": PLUS.format(const=1), "2/dali.py": PLUS.format(const=2), "config.pbtxt": PLUS_CONFIG},
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity-repo")
    for name, files in REPO.items():
        for rel, text in files.items():
            path = root / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


@pytest.fixture(scope="module")
def triton(repo):
    build = dali_backend_or_skip()
    # the server gets its own copies, with a CPU instance_group line (this machine has no GPU)
    with running_dali_triton(list(REPO), build=build, repository=repo) as server:
        yield server


def infer(server, model: str, inputs: dict[str, np.ndarray], outputs: list[str], version: str = ""):
    client = tritonclient_grpc.InferenceServerClient(server.grpc_url)
    tensors = []
    for name, arr in inputs.items():
        t = tritonclient_grpc.InferInput(name, list(arr.shape), tritonclient_grpc.np_to_triton_dtype(arr.dtype))
        t.set_data_from_numpy(arr)
        tensors.append(t)
    result = client.infer(model, tensors, model_version=version,
                          outputs=[tritonclient_grpc.InferRequestedOutput(o) for o in outputs])
    return {o: result.as_numpy(o) for o in outputs}


def tensors(config: dict, key: str) -> list[tuple]:
    return [(t["name"], t["data_type"], [int(d) for d in t.get("dims", [])]) for t in config.get(key, [])]


def mine(config, key: str) -> list[tuple]:
    from worker.repository.model_config import type_name

    return [(t.name, type_name(t.data_type), list(t.dims)) for t in getattr(config, key)]


@pytest.mark.parametrize("name", ["video_split", "unbatched", "plus"])
def test_the_backend_and_the_worker_complete_the_same_config(triton, repo, name):
    from worker.repository.load import load_model

    theirs = triton.model_config(name)
    m = load_model(repo, name, device="cpu", num_threads=1)
    assert mine(m.config, "input") == tensors(theirs, "input")
    assert mine(m.config, "output") == tensors(theirs, "output")
    assert m.config.max_batch_size == int(theirs.get("max_batch_size", 0))


def test_split_video_frames_are_the_backends_samples(triton, repo):
    from worker.config import Route
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import load_model
    from worker.stream.fanout import cut

    m = load_model(repo, "video_split", device="cpu", num_threads=1)
    for data in (media.clip(6, (64, 48)), media.clip(9, (32, 32), seed=1)):
        theirs = infer(triton, "video_split", {"INPUT": np.frombuffer(data, np.uint8)[None]}, ["FRAMES", "SHAPE"])
        (res,) = PipelineRunner(m).run([{"INPUT": data}])
        assert res.ok, res.error
        parts = cut(res.outputs, Route(inputs=["t"]), m.split)
        # the backend answers the clip's frames as n samples of [24, 32, 3]: so many results here
        assert theirs["FRAMES"].shape[0] == len(parts) and theirs["FRAMES"].shape[1:] == (24, 32, 3)
        for i, part in enumerate(parts):
            assert np.array_equal(part.outputs["FRAMES"], theirs["FRAMES"][i])
            assert np.array_equal(part.outputs["SHAPE"], theirs["SHAPE"][0])


def test_an_unbatched_request_gets_the_backends_answer(triton, repo):
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import load_model

    m = load_model(repo, "unbatched", device="cpu", num_threads=1)
    request = np.arange(15, dtype=np.float32).reshape(3, 5)
    (out,) = m.output_names
    theirs = infer(triton, "unbatched", {"INPUT": request}, [out])[out]
    (res,) = PipelineRunner(m).run([{"INPUT": request}])
    assert res.ok and theirs.shape == (3, 5) and np.array_equal(res.outputs[out], theirs)


def test_the_versions_served_are_the_backends(triton, repo):
    from worker.repository.errors import RepositoryError
    from worker.repository.load import load_model

    x = np.array([[1, 2]], np.uint8)
    assert np.array_equal(infer(triton, "plus", {"INPUT": x}, ["OUT"], version="2")["OUT"], [[3, 4]])
    with pytest.raises(Exception, match="(?i)version"):
        infer(triton, "plus", {"INPUT": x}, ["OUT"], version="1")
    with pytest.raises(RepositoryError, match="version 1 is not served"):
        load_model(repo, "plus", version=1)


def test_max_batch_size_minus_one_is_refused_by_tritons_core_not_by_the_worker(tmp_path):
    """The backend's AutofillConfig replaces a max_batch_size below 0 with the pipeline's (the
    worker does so too), but Triton 2.51's model repository refuses the config before the
    backend sees it (measured: "'max_batch_size' must be non-negative value"). The worker
    loads it and says, in a warning, that such a repository does not load in Triton."""
    from tests.dali_backend_server import DaliTritonProcess
    from worker.devtriton import TritonError
    from worker.repository.load import load_model

    build = dali_backend_or_skip()
    d = tmp_path / "repo" / "minus_one"
    (d / "1").mkdir(parents=True)
    (d / "1" / "dali.py").write_text(UNBATCHED)
    (d / "config.pbtxt").write_text('backend: "dali"\nmax_batch_size: -1\n')
    server = DaliTritonProcess(build, ["minus_one"], tmp_path / "work", repository=tmp_path / "repo")
    try:
        with pytest.raises(TritonError):
            server.start()
    finally:
        server.stop(kill=True)
    assert "'max_batch_size' must be non-negative value for minus_one" in server.log_path.read_text()
    assert load_model(tmp_path / "repo", "minus_one").max_batch_size == 8
