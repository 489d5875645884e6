"""The command recorder's spool: what a stop could not write is kept in a file and written by the next
start, a record whose commit got no answer is written only if it is not in the database already,
and unreadable lines are set aside, not lost."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from aurora.bot.command_record import CommandRecord
from aurora.bot.record_spool import RecordSpool
from aurora.bot.recorder import CommandRecorder
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.storage.engine import create_db_engine
from aurora.storage.tables import COMMAND_RUN, transactions
from tests.fakes.gunicorn_server import free_port
from tests.support import NOW, command, insert_rows

pytestmark = pytest.mark.clock

wait_for = SimulatedDiscord.wait_for
LATER = NOW + timedelta(seconds=1)


def command_times(engine) -> list:
    with engine.connect() as conn:
        query = select(transactions.c.created_at).where(transactions.c.type == COMMAND_RUN)
        return sorted(conn.execute(query).scalars())


@pytest.fixture
def spool(tmp_path, bot_engine):
    return RecordSpool(tmp_path / "spool", str(bot_engine.url))


def recover(engine, spool: RecordSpool) -> CommandRecorder:
    recorder = CommandRecorder(engine, spool=spool)
    recorder.start()
    return recorder


def test_a_stop_that_cannot_reach_the_database_keeps_the_records_for_the_next_start(tmp_path, bot_engine, caplog):
    caplog.set_level(logging.INFO, logger="aurora.bot.recorder")
    unreachable_url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test"
    unreachable = create_db_engine(unreachable_url)
    spool = RecordSpool(tmp_path / "spool", unreachable_url)
    recorder = CommandRecorder(unreachable, spool=spool)
    recorder.start()
    for second in range(3):
        recorder.record(CommandRecord("ping", None, NOW + timedelta(seconds=second)))
    recorder.stop(timeout=0.5)
    unreachable.dispose()
    assert "the database did not take 3 more in time: kept in" in caplog.text
    assert spool.path.stat().st_mode & 0o777 == 0o600
    assert [record.ran_at for record in spool.read()] == [NOW + timedelta(seconds=s) for s in range(3)]
    # The next start on that database (here the SQLite one stands in for it) writes them, once.
    recorder = recover(bot_engine, spool)
    wait_for(lambda: recorder.recovered == 3)
    recorder.stop()
    assert command_times(bot_engine) == [NOW + timedelta(seconds=s) for s in range(3)]
    assert not spool.path.exists()
    assert "3 command records kept at an earlier shutdown are in the database now (recovered)" in caplog.text


def test_records_whose_commit_got_no_answer_are_not_written_twice(bot_engine, spool, caplog):
    caplog.set_level(logging.INFO, logger="aurora.bot.recorder")
    insert_rows(bot_engine, transaction_rows=[command(NOW) for _ in range(3)])  # that commit went through
    spool.keep(
        [CommandRecord("ping", None, NOW, uncertain=True)] * 3  # found: not written again
        + [CommandRecord("ping", None, LATER, uncertain=True)] * 2  # not found: written
        + [CommandRecord("ping", None, NOW)]  # queued behind the commit: written
    )
    recorder = recover(bot_engine, spool)
    wait_for(lambda: recorder.recovered == 6)
    recorder.stop()
    assert command_times(bot_engine) == [NOW] * 4 + [LATER] * 2
    assert recorder.written == 3
    assert "6 command records kept at an earlier shutdown are in the database now (recovered; 3 of them " \
           "were there already)" in caplog.text


def test_unreadable_lines_are_set_aside_and_the_rest_is_written(bot_engine, spool, caplog):
    spool.keep([CommandRecord("ping", None, NOW), CommandRecord("stats", 7, LATER)])
    lines = spool.path.read_text().splitlines()
    spool.path.write_text("\n".join([lines[0], "{not json", '{"command_name": 1}', lines[1]]) + "\n")
    caplog.set_level(logging.INFO)
    recorder = recover(bot_engine, spool)
    wait_for(lambda: recorder.recovered == 2)
    recorder.stop()
    assert command_times(bot_engine) == [NOW, LATER]
    assert "2 lines are not command records and are not written" in caplog.text
    [set_aside] = spool.path.parent.glob("*.unreadable")
    assert "{not json" in set_aside.read_text()
    assert set_aside.stat().st_mode & 0o777 == 0o600  # invokers' ids, as private as the spool


def test_a_recorder_that_never_started_leaves_the_spool_alone(bot_engine, spool):
    spool.keep([CommandRecord("ping", None, NOW)])
    CommandRecorder(bot_engine, spool=spool).stop()
    assert len(spool.read()) == 1


def test_a_stop_between_a_commit_and_its_bookkeeping_does_not_write_the_batch_twice(bot_engine, spool, monkeypatch):
    recorder = CommandRecorder(bot_engine, spool=spool)
    bookkeeping = recorder._written_batch

    def stop_after_the_commit(batch, found):
        # The stop's wait for the writer runs out just as its commit returns.
        stopper = threading.Thread(target=recorder.stop, kwargs={"timeout": 0.2})
        stopper.start()
        stopper.join()
        bookkeeping(batch, found)

    monkeypatch.setattr(recorder, "_written_batch", stop_after_the_commit)
    recorder.start()
    recorder.record(CommandRecord("ping", None, NOW))
    wait_for(lambda: spool.path.exists())
    assert [record.uncertain for record in spool.read()] == [True]
    recorder = recover(bot_engine, spool)
    wait_for(lambda: recorder.recovered == 1)
    recorder.stop()
    assert command_times(bot_engine) == [NOW]


def test_records_a_stop_keeps_while_another_process_recovers_are_not_lost(bot_engine, spool):
    """A reload under an outage: the new process recovers what the spool held while the old one
    stops and keeps its own records in the same folder."""
    spool.keep([CommandRecord("ping", None, NOW)])
    recovering = CommandRecorder(bot_engine, spool=spool)
    recovering._wakeup.acquire()  # its writer waits until the other process has stopped
    recovering.start()
    RecordSpool(spool.path.parent, str(bot_engine.url)).keep([CommandRecord("stats", None, LATER)])
    recovering._wakeup.release()
    wait_for(lambda: recovering.recovered == 1)
    recovering.stop()
    assert command_times(bot_engine) == [NOW]
    # The other process's record is there for the next start.
    recorder = recover(bot_engine, RecordSpool(spool.path.parent, str(bot_engine.url)))
    wait_for(lambda: recorder.recovered == 1)
    recorder.stop()
    assert command_times(bot_engine) == [NOW, LATER]


def test_two_processes_starting_on_one_spool_write_its_records_once(bot_engine, spool):
    spool.keep([CommandRecord("ping", None, NOW + timedelta(seconds=s)) for s in range(3)])
    # Each spool opens its own files, as another process would: the claim decides who writes them.
    first, second = (RecordSpool(spool.path.parent, str(bot_engine.url)) for _ in range(2))
    assert len(first.read()) == 3
    assert second.read() == []
    recorders = [recover(bot_engine, first), recover(bot_engine, second)]
    wait_for(lambda: recorders[0].recovered == 3)
    for recorder in recorders:
        recorder.stop()
    assert command_times(bot_engine) == [NOW + timedelta(seconds=s) for s in range(3)]
    assert list(spool.path.parent.glob("*.jsonl")) == list(spool.path.parent.glob("*.claimed")) == []


def test_records_claimed_by_a_process_that_ended_are_written_by_the_next_start(bot_engine, spool):
    spool.keep([CommandRecord("ping", None, NOW)])
    # A process claims them and ends (killed, say) before writing them: its lock goes with it.
    claim = "import sys; from aurora.bot.record_spool import RecordSpool; print(len(RecordSpool(*sys.argv[1:]).read()))"
    ended = subprocess.run([sys.executable, "-c", claim, str(spool.path.parent), str(bot_engine.url)],
                           capture_output=True, text=True, check=True)
    assert ended.stdout.strip() == "1" and not spool.path.exists()
    recorder = recover(bot_engine, RecordSpool(spool.path.parent, str(bot_engine.url)))
    wait_for(lambda: recorder.recovered == 1)
    recorder.stop()
    assert command_times(bot_engine) == [NOW]


def test_a_line_that_is_not_utf8_is_set_aside_and_the_rest_is_written(bot_engine, spool, caplog):
    spool.keep([CommandRecord("ping", None, NOW)])
    with spool.path.open("ab") as output:
        output.write(b'{"command_name": "\xff\xfe"}\n')
    spool.keep([CommandRecord("stats", None, LATER)])  # another stop adds to it
    recorder = recover(bot_engine, spool)
    wait_for(lambda: recorder.recovered == 2)
    recorder.stop()
    assert command_times(bot_engine) == [NOW, LATER]
    assert "1 lines are not command records and are not written" in caplog.text

