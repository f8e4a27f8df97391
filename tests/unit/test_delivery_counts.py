"""What delivery reports as written is what was finally written (issue 21: the results metric
counted dead letters, and a result turned dead letter at send time was not counted as one)."""
from __future__ import annotations

import asyncio

from aiokafka.errors import InvalidTopicError, MessageSizeTooLargeError

from worker.config import Route, WorkerConfig
from worker.stream.delivery import AtLeastOnce, OutRecord, Unit
from worker.stream.messages import decode_dead_letter
from worker.stream.offsets import OffsetTracker
from worker.stream.outcomes import dead_letter_record


class FakeProducer:
    """Refuses sends to the topics in ``refuse`` with the given error, like the broker would."""

    def __init__(self, refuse: dict[str, Exception]):
        self.refuse = refuse
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic, value, key=None, headers=None):
        fut = asyncio.get_running_loop().create_future()
        if topic in self.refuse:
            fut.set_exception(self.refuse[topic])
        else:
            self.sent.append((topic, value))
            fut.set_result(None)
        return fut


def _run(refuse, record):
    cfg = WorkerConfig(routes=[Route(["in"], pipeline="p")]).check()
    tracker = OffsetTracker()
    tracker.assign(("in", 0), 0)
    epoch = tracker.begin(("in", 0), 0)
    rec = record(cfg, epoch)
    producer = FakeProducer(refuse)
    delivery = AtLeastOnce(producer, tracker, consumer=None)
    written = []
    delivery.on_written = written.extend
    asyncio.run(delivery.deliver(Unit([rec])))
    return written, producer, tracker


def _result(topic, from_reply_to=False):
    def make(cfg, epoch):
        fallback = lambda reason, why: dead_letter_record(  # noqa: E731
            cfg, "dlq", reason=reason, error=why, original=b"orig", key=b"k", source=("in", 0, 0, 1),
            epoch=epoch, id="m", pipeline="p")
        return OutRecord(topic, b"result", b"m", ("in", 0), 0, epoch, kind="result",
                         on_unwritable=fallback, from_reply_to=from_reply_to)
    return make


def test_a_result_refused_as_too_large_is_counted_as_a_dead_letter():
    written, producer, tracker = _run({"out": MessageSizeTooLargeError()}, _result("out"))
    assert [(r.kind, r.reason, r.topic) for r in written] == [("dead_letter", "result_too_large", "dlq")]
    assert decode_dead_letter(producer.sent[0][1]).reason == "result_too_large"
    assert tracker.committable() == {("in", 0): 1}  # its input is finished: nothing is lost


def test_a_reply_to_the_broker_refuses_is_a_dead_letter_not_a_stop():
    written, producer, _ = _run({"theirs": InvalidTopicError()}, _result("theirs", from_reply_to=True))
    assert [(r.kind, r.reason) for r in written] == [("dead_letter", "reply_to_refused")]


def test_results_are_counted_as_results():
    written, _, _ = _run({}, _result("out"))
    assert [(r.kind, r.topic) for r in written] == [("result", "out")]


def test_a_reply_to_the_acl_hides_is_a_dead_letter_at_send_time():
    """aiokafka refuses at send() (metadata) a topic the principal may not even DESCRIBE."""
    from aiokafka.errors import TopicAuthorizationFailedError

    class RefusesAtSend(FakeProducer):
        async def send(self, topic, value, key=None, headers=None):
            if topic == "theirs":
                raise TopicAuthorizationFailedError()
            return await super().send(topic, value, key, headers)

    cfg = WorkerConfig(routes=[Route(["in"], pipeline="p")]).check()
    tracker = OffsetTracker()
    tracker.assign(("in", 0), 0)
    epoch = tracker.begin(("in", 0), 0)
    rec = _result("theirs", from_reply_to=True)(cfg, epoch)
    delivery = AtLeastOnce(RefusesAtSend({}), tracker, consumer=None)
    written = []
    delivery.on_written = written.extend
    asyncio.run(delivery.deliver(Unit([rec])))
    assert [(r.kind, r.reason, r.topic) for r in written] == [("dead_letter", "reply_to_refused", "dlq")]
