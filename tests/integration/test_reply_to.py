"""reply_to on the real broker (issue 15): a route allows only the topics its reply_to patterns
match; a route without patterns refuses every reply_to. Refused ones are dead letters
(reply_to_refused), the rest of the stream goes on."""
from __future__ import annotations

import asyncio
import uuid

from tests.kafka_helpers import create_topics
from tests.worker_harness import WorkerProcess, collect, produce, small_jpegs
from worker.stream.messages import encode_input


def test_reply_to_only_where_the_route_allows_it(kafka_bootstrap, tmp_path):
    p = f"rt-{uuid.uuid4().hex[:6]}"
    open_in, closed_in, tout, tdlq = f"{p}-open", f"{p}-closed", f"{p}-out", f"{p}-dlq"
    allowed, other = f"{p}-replies.cam1", f"{p}-elsewhere"
    asyncio.run(create_topics(kafka_bootstrap, [open_in, closed_in, tout, tdlq, allowed, other], partitions=1))
    config = tmp_path / "worker.toml"
    config.write_text(f"""
dead_letter_topic = "{tdlq}"
commit_interval_ms = 300
num_threads = 2

[[routes]]
input = "{open_in}"
pipeline = "classify_reduce"
output = "{tout}"
max_delay_ms = 20
reply_to = ["{p}-replies.*"]

[[routes]]
input = "{closed_in}"
pipeline = "classify_reduce"
output = "{tout}"
max_delay_ms = 20
""")
    photo = small_jpegs(1)[0]
    open_items = [("to-allowed", encode_input("to-allowed", {"image": photo}, reply_to=allowed)),
                  ("to-other", encode_input("to-other", {"image": photo}, reply_to=other)),
                  ("to-input", encode_input("to-input", {"image": photo}, reply_to=open_in)),
                  ("plain-open", encode_input("plain-open", {"image": photo}))]
    closed_items = [("closed-reply", encode_input("closed-reply", {"image": photo}, reply_to=allowed)),
                    ("plain-closed", encode_input("plain-closed", {"image": photo}))]
    asyncio.run(produce(kafka_bootstrap, open_in, open_items))
    asyncio.run(produce(kafka_bootstrap, closed_in, closed_items))
    dead = {"to-other", "to-input", "closed-reply"}
    args = ["--config", str(config), "--group-id", f"g-{p}"]
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log") as w:
        replies = asyncio.run(collect(kafka_bootstrap, allowed, tdlq, expect_ids={"to-allowed"} | dead,
                                      timeout=120, settle=0.5))
        outs = asyncio.run(collect(kafka_bootstrap, tout, other, expect_ids={"plain-open", "plain-closed"},
                                   timeout=60, settle=0.5))
        assert w.proc.poll() is None, w.log()[-3000:]
        assert w.terminate() == 0, w.log()[-3000:]
    assert dict(replies.results) == {"to-allowed": 1}
    assert replies.dead == {k: ["reply_to_refused"] for k in dead}
    # the plain ones went to the route's output; nothing was written to the refused topic
    assert dict(outs.results) == {"plain-open": 1, "plain-closed": 1} and not outs.dead
