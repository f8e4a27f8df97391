"""Triton's version_policy (latest N, all, specific), several versions of one model in Python and
serialized form giving different outputs, unbatched models (max_batch_size: 0), and the
fingerprints live reload compares."""
import json
import os
import time

import numpy as np
import pytest

from tests.versioned_repo import make_repository, sample, write_version
from worker.cli import main
from worker.pipeline.runner import PipelineRunner
from worker.repository import versions
from worker.repository.errors import ConfigError, ModelNotFoundError
from worker.repository.load import load_model

SIX = {v: ("py" if v % 2 else "serialized") for v in (1, 2, 3, 5, 8, 13)}


@pytest.mark.parametrize("policy, served", [
    (None, [13]),                                            # Triton's default: latest 1
    ("{ latest { num_versions: 1 } }", [13]),
    ("{ latest { num_versions: 3 } }", [5, 8, 13]),
    ("{ latest { num_versions: 10 } }", [1, 2, 3, 5, 8, 13]),
    ("{ all { } }", [1, 2, 3, 5, 8, 13]),
    ("{ specific { versions: [2, 8] } }", [2, 8]),
    ("{ specific { versions: [3, 4] } }", [3]),              # 4 has no folder: not served
])
def test_policies_serve_what_triton_serves(tmp_path, policy, served):
    for v in SIX:
        (tmp_path / "m" / str(v)).mkdir(parents=True)
    (tmp_path / "m" / "notaversion").mkdir()
    if policy is not None:
        (tmp_path / "m" / "config.pbtxt").write_text(f"version_policy: {policy}\n")
    assert versions.served_versions(tmp_path, "m") == served


def test_policy_that_serves_nothing_names_the_versions(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "config.pbtxt").write_text("version_policy: { specific { versions: [7] } }")
    with pytest.raises(ModelNotFoundError, match=r"model 'm': config.pbtxt's version_policy "
                                                 r"\(specific \[7\]\) serves none of the versions present \(1\)"):
        versions.served_versions(tmp_path, "m")
    (tmp_path / "m" / "config.pbtxt").write_text("version_policy: { latest { num_versions: 0 } }")
    with pytest.raises(ConfigError, match="num_versions: 0 } serves nothing: set num_versions >= 1"):
        versions.served_versions(tmp_path, "m")


def test_each_version_answers_with_its_own_pipeline(tmp_path):
    """Python and serialized versions side by side; the output shows which one ran."""
    make_repository(tmp_path, versions={1: "py", 2: "serialized", 3: "py", 4: "serialized"},
                    policy="{ all { } }")
    assert versions.served_versions(tmp_path, "times") == [1, 2, 3, 4]
    for v in (1, 2, 3, 4):
        model = load_model(tmp_path, "times", version=v)
        assert model.version == v
        (res,) = PipelineRunner(model).run([{"x": sample()}])
        np.testing.assert_array_equal(res.outputs[model.output_names[0]], sample() * v)


def test_unbatched_model_is_served_one_sample_at_a_time(tmp_path):
    """As Triton's DALI backend: max_batch_size 0 is an unbatched model (ExecuteUnbatched), whose
    config dims carry the batch dimension first; each sample runs alone, outputs without it."""
    make_repository(tmp_path, versions={1: "py"}, config_extra="max_batch_size: 0\n")
    model = load_model(tmp_path, "times")
    assert not model.batched and model.max_batch_size == 1 and model.config.max_batch_size == 0
    assert list(model.config.input[0].dims) == [-1, -1] and list(model.config.output[0].dims) == [-1, -1]
    assert [(s.ndim, s.dims) for s in model.inputs] == [(1, (-1,))]
    results = PipelineRunner(model).run([{"x": sample(3)}, {"x": sample(5)}])
    assert [r.outputs[model.output_names[0]].shape for r in results] == [(3,), (5,)]


def test_unbatched_config_dims_must_include_the_batch_dimension(tmp_path):
    make_repository(tmp_path, versions={1: "py"}, config_extra=(
        'max_batch_size: 0\ninput [ { name: "x" data_type: TYPE_INT32 dims: [ -1 ] } ]\n'))
    with pytest.raises(ConfigError, match=r"mismatch of dims for input 'x'.*max_batch_size is 0, "
                                          r"so dims include the batch dimension first"):
        load_model(tmp_path, "times")


def test_fingerprints_see_added_changed_and_removed_versions(tmp_path):
    make_repository(tmp_path, versions={1: "py", 2: "py"}, policy="{ all { } }")
    before = versions.snapshot(tmp_path, "times")
    assert before.error is None and sorted(before.versions) == [1, 2]
    assert not versions.diff(before, versions.snapshot(tmp_path, "times"))
    write_version(tmp_path, "times", 3)
    (tmp_path / "times" / "2" / "dali.py").write_text((tmp_path / "times" / "2" / "dali.py").read_text() + "\n# v2b\n")
    for f in (tmp_path / "times" / "1").iterdir():
        f.unlink()
    (tmp_path / "times" / "1").rmdir()
    changes = versions.diff(before, versions.snapshot(tmp_path, "times"))
    assert (changes.added, changes.changed, changes.removed) == ((3,), (2,), (1,))


def test_a_config_change_changes_every_version(tmp_path):
    make_repository(tmp_path, versions={1: "py", 2: "py"}, policy="{ all { } }")
    before = versions.snapshot(tmp_path, "times")
    cfg = tmp_path / "times" / "config.pbtxt"
    cfg.write_text(cfg.read_text() + "# touched\n")
    assert versions.diff(before, versions.snapshot(tmp_path, "times")).changed == (1, 2)
    cfg.write_text("version_policy: { latest { num_versions: 1 } }")
    assert versions.diff(before, versions.snapshot(tmp_path, "times")).removed == (1,)
    cfg.write_text("this does not parse {")
    broken = versions.snapshot(tmp_path, "times")
    assert broken.versions == {} and "config.pbtxt does not parse" in broken.error


def test_pipelines_command_lists_the_versions_served(tmp_path, capsys):
    make_repository(tmp_path, versions={1: "py", 2: "serialized", 3: "py"},
                    policy="{ latest { num_versions: 2 } }")
    assert main(["pipelines", "--repository", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "times  version 3 of [1,2,3]  dali.py (Python, not imported)" in out
    assert "serves version(s) 2, 3 (version_policy latest 2)" in out
    assert main(["pipelines", "--repository", str(tmp_path), "--json", "--load"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["models"]
    assert (entry["served"], entry["policy"], entry["version"]) == ([2, 3], "latest 2", 3)
