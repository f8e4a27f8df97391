"""Configuration: defaults < file < environment < flags, and errors that name the field."""
import pytest

from worker.config import ConfigError, load_config


def test_flags_make_one_route_and_env_sets_the_rest(tmp_path):
    cfg = load_config(None, env={"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "DSW_PROCS": "3"},
                      overrides={"input": "a,b", "pipeline": "classify", "max_batch_size": 16})
    assert cfg.bootstrap_servers == "k:9092" and cfg.procs == 3
    [r] = cfg.routes
    assert r.inputs == ["a", "b"] and r.pipeline == "classify" and r.max_batch_size == 16


def test_file_then_env_then_flags(tmp_path):
    f = tmp_path / "w.toml"
    f.write_text('group_id = "from-file"\nprocs = 2\n[[routes]]\ninput = "images"\npipeline = "classify"\n'
                 'output = "out"\n')
    cfg = load_config(f, env={"DSW_GROUP_ID": "from-env"}, overrides={"procs": 5, "output": "flag-out"})
    assert cfg.group_id == "from-env" and cfg.procs == 5
    assert cfg.routes[0].output == "flag-out" and cfg.routes[0].inputs == ["images"]


@pytest.mark.parametrize("text, needle", [
    ('bogus = 1\n[[routes]]\ninput = "a"\npipeline = "p"\n', "unknown key 'bogus'"),
    ('[[routes]]\ninput = "a"\npipeline = "p"\nfeed = "zigzag"\n', "feed='zigzag'"),
    ('[[routes]]\ninput = "a"\nformat = "raw"\n', "raw messages name no pipeline"),
    ('[[routes]]\ninput = "a"\npipeline = "p"\n[[routes]]\ninput = "a"\npipeline = "q"\n', "topic 'a' is the input of"),
    ('procs = "many"\n[[routes]]\ninput = "a"\npipeline = "p"\n', "procs='many' is not an integer"),
    ('max_message_bytes = 99999999\n[[routes]]\ninput = "a"\npipeline = "p"\n', "max_partition_fetch_bytes"),
])
def test_errors_name_the_field(tmp_path, text, needle):
    f = tmp_path / "w.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        load_config(f, env={})


def test_no_route_says_how_to_give_one():
    with pytest.raises(ConfigError, match="--input TOPIC --pipeline NAME"):
        load_config(None, env={})


def test_transactional_id_is_stable_per_host_and_slot():
    a = load_config(None, env={}, overrides={"input": "t", "pipeline": "p", "slot": 3})
    b = load_config(None, env={}, overrides={"input": "t", "pipeline": "p", "slot": 3})
    assert a.transactional_id == b.transactional_id and a.transactional_id.endswith("-3")
    c = load_config(None, env={"DSW_TRANSACTIONAL_ID_PREFIX": "host-a"}, overrides={"input": "t", "pipeline": "p"})
    assert c.transactional_id == "host-a-0"
