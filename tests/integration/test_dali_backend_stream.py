"""``mode = "dali_backend"`` end to end against Triton's own DALI backend (built from source,
tests/dali_backend_server.py): Kafka -> worker (no DALI of its own: the encoded bytes pass
through) -> the "classify" pipeline inside Triton, alone and as the first step of an ensemble
with the classifier -> results and dead letters on Kafka.

What the backend does with a corrupt image in a batch: it fails the whole request (gRPC UNKNOWN,
"Critical error in pipeline ... nvImageCodec failure"), and its pipeline recovers for the next
request. The worker then sends that batch again one sample per request, so only the corrupt
message becomes a ``model_error`` dead letter (with the backend's words) and every other message
of the batch gets its result."""
from __future__ import annotations

import numpy as np
import pytest

from tests.dali_backend_server import dali_backend_or_skip, running_dali_triton
from tests.integration.test_stream_inference import (BATCH, PIPELINE, PIPELINE_OUTPUT, check_results,
                                                     labels_path, local_predictions, stream_through)
from tests.triton_server import CLASSIFIER, SERVERS_DIR
from tests.worker_harness import ROOT, corrupt_jpeg, small_jpegs

ENSEMBLE_NAME = "dali-classifier"
ENSEMBLE_CONFIG = f"""
name: "{ENSEMBLE_NAME}"
platform: "ensemble"
max_batch_size: 64
input [ {{ name: "image" data_type: TYPE_UINT8 dims: [ -1 ] }} ]
output [
  {{ name: "logits" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "labels.txt" }},
  {{ name: "request_size" data_type: TYPE_INT32 dims: [ 1 ] }}
]
ensemble_scheduling {{
  step [
    {{
      model_name: "{PIPELINE}"
      model_version: -1
      input_map {{ key: "image" value: "image" }}
      output_map {{ key: "{PIPELINE_OUTPUT}" value: "preprocessed" }}
    }},
    {{
      model_name: "{CLASSIFIER.name}"
      model_version: -1
      input_map {{ key: "image" value: "preprocessed" }}
      output_map [ {{ key: "logits" value: "logits" }}, {{ key: "request_size" value: "request_size" }} ]
    }}
  ]
}}
"""


@pytest.fixture(scope="module")
def dali_server():
    import sys

    build = dali_backend_or_skip()
    sys.path.insert(0, str(SERVERS_DIR))
    import mean_classifier

    labels = "\n".join(mean_classifier.LABELS) + "\n"
    extra = {ENSEMBLE_NAME: {"config.pbtxt": ENSEMBLE_CONFIG, "labels.txt": labels, "1/.keep": ""}}
    with running_dali_triton([PIPELINE], build=build, models=[CLASSIFIER], extra=extra) as server:
        yield server


def local_tensors(jpegs: dict[str, bytes]) -> dict[str, np.ndarray]:
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import load_model

    model = load_model(ROOT / "pipelines", PIPELINE, device="cpu", num_threads=2)
    runner = PipelineRunner(model)
    try:
        out = runner.run([{"image": b} for b in jpegs.values()])
    finally:
        runner.close()
    assert all(r.ok for r in out)
    return {k: r.outputs[PIPELINE_OUTPUT] for k, r in zip(jpegs, out)}


def dali_model(**kw) -> dict:
    """model_table overrides for dali_backend mode: no pipeline-output mapping, no top-k."""
    return {"mode": "dali_backend", "inputs": {}, **kw}


def test_stream_through_tritons_dali_model_gives_the_local_pipelines_tensors(kafka_bootstrap, dali_server,
                                                                              tmp_path):
    photos = {f"photo-{i:02d}": jpeg for i, jpeg in enumerate(small_jpegs(12, seed=7))}
    items = [*photos.items(), ("corrupt", corrupt_jpeg(1)), ("bytes", b"\xff\xd8\xff\xe0" + b"x" * 500)]
    seen = stream_through(kafka_bootstrap, dali_server, items, tmp_path,
                          **dali_model(name=PIPELINE, outputs=[PIPELINE_OUTPUT], classify_output=None, top_k=None))
    want = local_tensors(photos)
    assert set(seen.results) == set(photos), {k: d[0].error[:400] for k, d in seen.dead.items()}
    for key, results in seen.results.items():
        assert len(results) == 1, f"{key} published {len(results)} times"
        res = results[0]
        assert res.pipeline == PIPELINE and res.model == {"name": PIPELINE, "version": None}
        got = res.outputs[PIPELINE_OUTPUT]
        assert got.shape == (3, 224, 224) and got.dtype == np.float32
        assert np.array_equal(got, want[key]), f"{key}: Triton's DALI backend and the worker differ"
    assert set(seen.dead) == {"corrupt", "bytes"}
    for key in ("corrupt", "bytes"):
        (dl,) = seen.dead[key]
        assert dl.reason == "model_error", (key, dl.reason, dl.error)
        assert PIPELINE in dl.error and dali_server.grpc_url in dl.error
        assert "Critical error in pipeline" in dl.error or "decoders" in dl.error, dl.error
        assert dl.original == dict(items)[key]


def test_stream_through_an_ensemble_of_tritons_dali_model_and_the_classifier(kafka_bootstrap, dali_server,
                                                                            tmp_path):
    photos = {f"photo-{i:02d}": jpeg for i, jpeg in enumerate(small_jpegs(16, seed=8))}
    items = [*photos.items(), ("corrupt", corrupt_jpeg(3))]
    seen = stream_through(kafka_bootstrap, dali_server, items, tmp_path,
                          **dali_model(name=ENSEMBLE_NAME, labels_file=labels_path(tmp_path)))
    check_results(seen, local_predictions(photos), ENSEMBLE_NAME)
    assert max(int(r[0].outputs["request_size"][0]) for r in seen.results.values()) > 1, \
        "fixed output dims: whole batches go in one request"
    assert [d.reason for d in seen.dead["corrupt"]] == ["model_error"] and len(seen.dead) == 1
    assert BATCH >= 2
