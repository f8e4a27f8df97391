"""Finding models, versions and pipeline files (the DALI backend's precedence)."""
from pathlib import Path

import pytest

from worker.repository import find
from worker.repository.errors import ModelNotFoundError, RepositoryError


def make(tmp: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp


@pytest.mark.parametrize("bad", ["..", "a/b", "../x", "a..b", "", "sp ace", "é"])
def test_invalid_names_are_refused(bad):
    with pytest.raises(RepositoryError, match="invalid model name"):
        find.validate_name(bad)


@pytest.mark.parametrize("good", ["classify", "resnet-50_v2", "a.b"])
def test_valid_names(good):
    assert find.validate_name(good) == good


def test_versions_highest_by_default_and_pinnable(tmp_path):
    make(tmp_path, {"m/1/dali.py": "", "m/3/dali.py": "", "m/10/dali.py": "", "m/notes/x": ""})
    assert find.model_versions(tmp_path, "m") == [1, 3, 10]
    assert find.choose_version(tmp_path, "m") == 10
    assert find.choose_version(tmp_path, "m", 3) == 3
    with pytest.raises(ModelNotFoundError, match="no version 2"):
        find.choose_version(tmp_path, "m", 2)


def test_version_policy_specific(tmp_path):
    from tritonclient.grpc import model_config_pb2 as pb

    make(tmp_path, {"m/1/dali.py": "", "m/2/dali.py": "", "m/3/dali.py": ""})
    policy = pb.ModelVersionPolicy(specific=pb.ModelVersionPolicy.Specific(versions=[1, 2]))
    assert find.choose_version(tmp_path, "m", policy=policy) == 2


def test_missing_model_lists_known_ones(tmp_path):
    make(tmp_path, {"a/1/dali.py": "", "b/1/model.dali": ""})
    assert find.list_models(tmp_path) == ["a", "b"]
    with pytest.raises(ModelNotFoundError, match=r"'c' not found .*models there: a, b"):
        find.choose_version(tmp_path, "c")


def test_model_without_versions(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(ModelNotFoundError, match="no version folder"):
        find.choose_version(tmp_path, "m")


def test_precedence(tmp_path):
    v = tmp_path / "m" / "1"
    make(tmp_path, {"m/1/model.dali": "x", "m/1/dali.py": ""})
    assert find.find_model_file(v) == find.ModelFile(v / "model.dali", "serialized")
    (v / "model.dali").unlink()
    assert find.find_model_file(v) == find.ModelFile(v / "dali.py", "autoserialize")
    make(tmp_path, {"m/1/custom.py": ""})
    assert find.find_model_file(v, "custom.py") == find.ModelFile(v / "custom.py", "autoserialize")
    make(tmp_path, {"m/1/other.bin": ""})
    assert find.find_model_file(v, "other.bin").kind == "serialized"
    # named file missing: dali.py still serves
    assert find.find_model_file(v, "missing.py").path == v / "dali.py"
    (v / "dali.py").unlink()
    with pytest.raises(ModelNotFoundError, match="expected missing.dali"):
        find.find_model_file(v, "missing.dali", "m")
    with pytest.raises(RepositoryError, match="invalid default_model_filename"):
        find.find_model_file(v, "../evil.py", "m")


def test_default_repository(monkeypatch):
    monkeypatch.delenv("DSW_REPOSITORY", raising=False)
    assert find.default_repository() == Path("pipelines")
    monkeypatch.setenv("DSW_REPOSITORY", "/srv/models")
    assert find.default_repository() == Path("/srv/models")
