"""The durable outbox: order, the bound (oldest dropped, counted), surviving a reopen, waiting."""

from __future__ import annotations

import threading
import time

from emotui.alerts.outbox import Outbox, QueuedMessage
from tests.helpers import EVENT_TIMEOUT_S


def test_bounded_fifo_drops_the_oldest_and_counts_them(tmp_path):
    outbox = Outbox(tmp_path / "alerts" / "queue" / "o.sqlite3", "mqtt", max_items=3)  # folders created
    for number in range(5):
        outbox.put("t", f"m{number}".encode())
        assert (len(outbox), outbox.dropped) == (min(number + 1, 3), max(number - 2, 0))  # never above the bound
    assert [m.body for m in outbox.batch(0, 10)] == [b"m2", b"m3", b"m4"]
    head = outbox.peek()
    outbox.remove(head.id)
    outbox.remove(head.id)  # twice: nothing more goes
    assert len(outbox) == 2 and outbox.peek().body == b"m3"
    assert [m.body for m in outbox.batch(outbox.peek().id, 10)] == [b"m4"]  # only what comes after
    outbox.close()


def test_what_is_queued_survives_a_reopen_in_order_and_ids_keep_growing(tmp_path):
    queued_from = time.time()
    first = Outbox(tmp_path / "o.sqlite3", "mqtt", max_items=100)
    for number in range(3):
        first.put(f"emotui/door/{number}", f"e{number}".encode())
    queued_until = time.time()
    newest = first.newest_id
    first.close()
    again = Outbox(tmp_path / "o.sqlite3", "mqtt", max_items=100)
    other = Outbox(tmp_path / "o.sqlite3", "webhook", max_items=100)  # its own table in the same file
    messages = again.batch(0, 10)
    assert [(m.topic, m.body) for m in messages] == [("emotui/door/0", b"e0"), ("emotui/door/1", b"e1"),
                                                     ("emotui/door/2", b"e2")]
    assert all(queued_from <= m.queued_at <= queued_until for m in messages) and len(again) == 3
    assert len(other) == 0 and again.newest_id == newest
    again.put("", b"e3")
    assert again.newest_id > newest
    again.close()
    other.close()


class Waiter(threading.Thread):
    """Calls `outbox.wait` with an hour's timeout on a thread of its own; `waiting` is set just
    before, and `answer` holds what it returned."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(daemon=True)
        self.outbox = outbox
        self.waiting = threading.Event()
        self.answer: QueuedMessage | None = None

    def run(self) -> None:
        self.waiting.set()
        self.answer = self.outbox.wait(3600)

    def answered(self) -> bool:
        """Whether wait() returned, long before its hour (a generous deadline, not a speed)."""
        self.join(EVENT_TIMEOUT_S)
        return not self.is_alive()


def test_wait_returns_a_message_as_soon_as_one_arrives_and_none_when_closed(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", "mqtt", max_items=10)
    assert outbox.wait(0.05) is None
    waiter = Waiter(outbox)
    waiter.start()
    waiter.waiting.wait()
    outbox.put("t", b"late")
    assert waiter.answered() and waiter.answer.body == b"late"
    outbox.remove(waiter.answer.id)
    assert outbox.wait(0.05) is None  # nothing left
    closing = Waiter(outbox)
    closing.start()
    closing.waiting.wait()
    outbox.close()
    assert closing.answered() and closing.answer is None


def test_dropped_counts_the_rows_deleted_when_another_connection_emptied_the_queue(tmp_path):
    sender = Outbox(tmp_path / "o.sqlite3", "mqtt", max_items=100)
    for number in range(3):
        sender.put("t", f"m{number}".encode())
    bounded = Outbox(tmp_path / "o.sqlite3", "mqtt", max_items=1)  # opened over three queued messages
    for message in sender.batch(0, 10):
        sender.remove(message.id)  # delivered meanwhile through the other connection
    bounded.put("t", b"m3")  # four by its count, three over its bound: but only m3 is there to delete
    assert bounded.batch(0, 10) == [] and bounded.dropped == 1
    sender.close()
    bounded.close()
