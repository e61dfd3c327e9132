"""Writes that survive faults: a write load against gunicorn (two workers) while workers are
killed with SIGKILL and the database itself is stopped and started again.

Every write is sent with an Idempotency-Key and retried with the same key until it gets an
answer (after a cut connection, a 503, or a 409 saying the first attempt is still running), as
docs/retries.md tells clients to. Afterwards the database must hold exactly the acknowledged
writes: no post twice, every like count equal to its likes, the tallies behind `count` equal
to the rows, every kept key with its write. No answer may be a 500; 503s only during the outage.

The same load against a server with keys switched off (IDEMPOTENCY_KEY_HOURS=0) must write
some post twice: that is what shows the key, not luck, kept the first run clean.
"""

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.client import HTTPException
from urllib.error import URLError

import psycopg2
import pytest
from django.conf import settings
from django.db import connections

from testing.cluster import throwaway_cluster
from testing.live import Answer, Instance, call, free_ports, gunicorn, production_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# This test's own resources on the shared machine: ports 9700-9789 for gunicorn, 9790-9799 for PostgreSQL.
WEB_PORTS = range(9700, 9790)
PG_PORT = free_ports(range(9790, 9800), 1)[0]
PASSWORD = "chaos-monkey-horse-battery"
THREADS = 6
# Every FAULT_EVERY seconds, in turn: a worker is killed with SIGKILL, or every worker is stalled
# (SIGSTOP, then SIGCONT after STALL seconds, as in a pause of the machine): the clients give up
# waiting, yet the requests they sent are then served and their writes committed.
FAULT_EVERY = 1.2
STALL = 1.0
OUTAGE_AT, OUTAGE_FOR = 5.0, 3.0  # the database is stopped this long, this far into the load
# The load runs at least MIN_SECONDS, then until the run has shown what it is for (a lost answer
# met again), at most MAX_SECONDS.
MIN_SECONDS, MAX_SECONDS = 12.0, 30.0
RECOVERY_GRACE = 5.0  # seconds after the restart in which a 503 may still be answered
WRITE_GIVES_UP_AFTER = 40.0
# Clients on a poor network give up waiting early; the server may still finish the request. With
# the workers that are killed and the database that stops, some answers take longer than this.
CLIENT_TIMEOUT = 0.5
CUT = (URLError, HTTPException, OSError)  # no answer: refused, reset, closed or timed out
BUDGETS_OFF = {
    "AUTH_THROTTLE_RATE": "off",
    "USER_RATE_LIMIT": "off",
    "POST_RATE_LIMIT": "off",
    "VOTE_RATE_LIMIT": "off",
}


@dataclass
class Record:
    """What the clients saw, shared by the load threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list = field(default_factory=list)  # (monotonic time, status, what)
    cut: int = 0  # requests that got no answer
    acknowledged_posts: dict = field(default_factory=dict)  # id -> title
    replays: int = 0  # answers marked Idempotent-Replayed after a cut
    in_progress: int = 0  # 409s: the attempt before was still running
    latencies: list = field(default_factory=list)  # seconds, of the requests answered

    def answered(self, status: int, what: str, latency: float) -> None:
        with self.lock:
            self.answers.append((time.monotonic(), status, what))
            self.latencies.append(latency)


@dataclass
class Client:
    base: str
    token: str
    user_id: int
    liked: set = field(default_factory=set)


def write(client: Client, record: Record, path: str, body: dict) -> Answer:
    """Send until answered, always with the same key, as docs/retries.md tells clients to."""
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key}
    deadline = time.monotonic() + WRITE_GIVES_UP_AFTER
    was_cut = False
    while time.monotonic() < deadline:
        sent = time.monotonic()
        try:
            answer = call(
                client.base,
                "POST",
                path,
                body=body,
                token=client.token,
                headers=headers,
                timeout=CLIENT_TIMEOUT,
            )
        except CUT:
            with record.lock:
                record.cut += 1
            was_cut = True
            time.sleep(0.05)
            continue
        record.answered(answer.status, path, time.monotonic() - sent)
        # Retried sooner than Retry-After asks, to press the server harder.
        if answer.status == 409 and "Retry-After" in answer.headers:
            with record.lock:
                record.in_progress += 1
            time.sleep(0.2)
            continue
        if answer.status == 503:
            time.sleep(0.2)
            continue
        if was_cut and answer.headers.get("Idempotent-Replayed") == "true":
            with record.lock:
                record.replays += 1
        return answer
    raise AssertionError(f"POST {path} {body} got no final answer in {WRITE_GIVES_UP_AFTER}s")


def load(client: Client, number: int, phase: str, record: Record, stop: threading.Event, errors: list):
    rng = random.Random(number)
    written = 0
    try:
        while not stop.is_set():
            written += 1
            title = f"{phase}-{number}-{written}"
            answer = write(client, record, "/api/v1/posts/", {"title": title, "content": "chaos"})
            assert answer.status == 201, (answer.status, answer.body)
            with record.lock:
                record.acknowledged_posts[answer.body["id"]] = title
                candidates = [pid for pid in record.acknowledged_posts if pid not in client.liked]
            if candidates:
                post_id = rng.choice(candidates)
                answer = write(client, record, "/api/v1/votes/", {"post_id": post_id, "dir": 1})
                # 409: liked already, by an attempt whose answer was lost (keys off).
                assert answer.status in (201, 409), (answer.status, answer.body)
                client.liked.add(post_id)
            if client.liked and rng.random() < 0.4:
                post_id = rng.choice(sorted(client.liked))
                answer = write(client, record, "/api/v1/votes/", {"post_id": post_id, "dir": 0})
                # 404: taken back already, by an attempt whose answer was lost (keys off).
                assert answer.status in (200, 404), (answer.status, answer.body)
                client.liked.discard(post_id)
    except BaseException as error:  # reported by the main thread
        errors.append(error)
        stop.set()


def sign_up(base: str, email: str) -> Client:
    registered = call(base, "POST", "/api/v1/users/", body={"email": email, "password": PASSWORD})
    assert registered.status == 201, registered.body
    login = call(base, "POST", "/api/v1/auth/token/", form={"username": email, "password": PASSWORD})
    assert login.status == 200, login.body
    return Client(base, login.body["access_token"], registered.body["id"])


def kill_a_worker(instance: Instance, rng: random.Random) -> bool:
    workers = instance.worker_pids()
    if not workers:
        return False
    try:
        os.kill(rng.choice(workers), signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def stall_the_workers(instance: Instance) -> bool:
    """Freeze every worker for STALL seconds; requests sent meanwhile wait in the listen queue."""
    workers = instance.worker_pids()
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGSTOP)
    threading.Timer(STALL, resume, [workers]).start()
    return bool(workers)


def resume(workers: list[int]) -> None:
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGCONT)


@dataclass
class Outcome:
    phase: str
    seconds: float
    record: Record
    clients: list
    kills: int
    stalls: int
    outage: tuple  # (stopped at, started again at), monotonic


def chaos(cluster, instance: Instance, phase: str, shown) -> Outcome:
    """Run the load with SIGKILLs and one database outage until `shown()` or MAX_SECONDS."""
    clients = [sign_up(instance.base, f"{phase}-{n}@example.com") for n in range(THREADS)]
    record, stop, errors = Record(), threading.Event(), []
    threads = [
        threading.Thread(target=load, args=(client, n, phase, record, stop, errors), daemon=True)
        for n, client in enumerate(clients)
    ]
    rng = random.Random(phase)
    started = time.monotonic()
    for thread in threads:
        thread.start()
    hits, next_hit, outage = {"kill": 0, "stall": 0}, started + 1.0, None
    while not stop.is_set():
        now = time.monotonic()
        elapsed = now - started
        if outage is None and elapsed >= OUTAGE_AT:
            stopped_at = time.monotonic()
            cluster.stop()
            time.sleep(OUTAGE_FOR)
            cluster.start()
            outage = (stopped_at, time.monotonic())
            continue
        if now >= next_hit:
            if hits["kill"] <= hits["stall"]:
                hits["kill"] += kill_a_worker(instance, rng)
            else:
                hits["stall"] += stall_the_workers(instance)
            next_hit = now + FAULT_EVERY
        if outage and (elapsed >= MAX_SECONDS or (elapsed >= MIN_SECONDS and shown(record))):
            break
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=WRITE_GIVES_UP_AFTER + 5)
    if errors:
        raise errors[0]
    time.sleep(STALL)  # the last stalled worker is running again
    return Outcome(phase, time.monotonic() - started, record, clients, hits["kill"], hits["stall"], outage)


def database(cluster):
    connection = psycopg2.connect(cluster.url("chaos"))
    connection.autocommit = True
    return connection


def rows(connection, sql: str, params=()) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def duplicated_titles(cluster, phase: str) -> int:
    connection = database(cluster)
    try:
        return rows(
            connection,
            "SELECT count(*) FROM (SELECT title FROM posts_post WHERE title LIKE %s"
            " GROUP BY title HAVING count(*) > 1) t",
            [f"{phase}-%"],
        )[0][0]
    finally:
        connection.close()


def check(cluster, outcome: Outcome) -> dict:
    """The invariants that hold with or without keys; the counts checked."""
    record = outcome.record
    connection = database(cluster)
    try:
        users = [client.user_id for client in outcome.clients]
        stored = dict(rows(connection, "SELECT id, title FROM posts_post WHERE owner_id = ANY(%s)", [users]))
        missing = {pid: title for pid, title in record.acknowledged_posts.items() if stored.get(pid) != title}
        assert not missing, f"acknowledged posts missing: {missing}"
        titles = list(stored.values())

        likes = set(
            rows(connection, "SELECT user_id, post_id FROM votes_vote WHERE user_id = ANY(%s)", [users])
        )
        expected = {(client.user_id, pid) for client in outcome.clients for pid in client.liked}
        assert likes == expected, (
            f"likes: {len(likes - expected)} never acknowledged, {len(expected - likes)} missing"
        )

        wrong_counts = rows(
            connection,
            "SELECT p.id, p.vote_count, count(v.id) FROM posts_post p"
            " LEFT JOIN votes_vote v ON v.post_id = p.id GROUP BY p.id HAVING p.vote_count <> count(v.id)",
        )
        assert wrong_counts == [], f"like counts that differ from the likes: {wrong_counts}"

        tallies = {
            owner: (published, drafts)
            for owner, published, drafts in rows(connection, "SELECT * FROM posts_postcount")
            if (published, drafts) != (0, 0)
        }
        counted = {
            owner: (int(published), int(drafts))
            for owner, published, drafts in rows(
                connection,
                "SELECT owner_id, count(*) FILTER (WHERE published), count(*) FILTER (WHERE NOT published)"
                " FROM posts_post GROUP BY owner_id UNION ALL"
                " SELECT 0, count(*) FILTER (WHERE published), count(*) FILTER (WHERE NOT published)"
                " FROM posts_post",
            )
            if (published, drafts) != (0, 0)
        }
        assert tallies == counted, f"tallies {tallies} != rows {counted}"

        kept_keys = rows(
            connection,
            "SELECT endpoint, count(*) FROM idempotency_storedanswer"
            " WHERE user_id = ANY(%s) GROUP BY endpoint",
            [users],
        )
    finally:
        connection.close()

    statuses = [status for _, status, _ in record.answers]
    server_errors = [(at, status, what) for at, status, what in record.answers if status >= 500]
    assert all(status == 503 for _, status, _ in server_errors), server_errors
    stopped_at, started_at = outcome.outage
    outside = [
        (round(at - stopped_at, 2), what)
        for at, _, what in server_errors
        if not stopped_at <= at <= started_at + RECOVERY_GRACE
    ]
    assert not outside, f"503 outside the outage (seconds after the stop): {outside}"
    return {
        "seconds": round(outcome.seconds, 1),
        "workers killed": outcome.kills,
        "server stalls": outcome.stalls,
        "answers": len(statuses),
        "median ms": round(sorted(record.latencies)[len(record.latencies) // 2] * 1000),
        "p90 ms": round(sorted(record.latencies)[len(record.latencies) * 9 // 10] * 1000),
        "503 during the outage": len(server_errors),
        "500": statuses.count(500),
        "cut connections": record.cut,
        "replayed after a cut": record.replays,
        "409 while the first was running": record.in_progress,
        "acknowledged posts": len(record.acknowledged_posts),
        "posts stored": len(titles),
        "posts written twice": len(titles) - len(set(titles)),
        "likes stored (= acknowledged)": len(likes),
        "posts whose like count differs": len(wrong_counts),
        "tally rows checked": len(tallies),
        "kept keys": dict(kept_keys),
    }


@pytest.fixture(scope="module")
def cluster():
    if connections["default"].vendor != "postgresql":
        pytest.skip("brings its own PostgreSQL cluster; run once per suite, in the run on PostgreSQL")
    with throwaway_cluster(PG_PORT) as running:
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "blogapi", "chaos"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=settings.BASE_DIR,
            env=production_env(DATABASE_URL=running.url("chaos")),
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield running


def serve(cluster, folder, key_hours: str):
    folder.mkdir()
    environment = production_env(
        DATABASE_URL=cluster.url("chaos"),
        WEB_CONCURRENCY="2",
        IDEMPOTENCY_KEY_HOURS=key_hours,
        **BUDGETS_OFF,
    )
    return gunicorn(folder, WEB_PORTS, env=environment)


def test_acknowledged_writes_survive_killed_workers_and_a_database_outage(cluster, tmp_path, capsys):
    with serve(cluster, tmp_path / "keys", "24") as (instance,):
        with_keys = chaos(cluster, instance, "keys", shown=lambda record: record.replays > 0)
        log = instance.log_text()
    with serve(cluster, tmp_path / "nokeys", "0") as (instance,):
        without_keys = chaos(
            cluster, instance, "nokeys", shown=lambda record: duplicated_titles(cluster, "nokeys") > 0
        )

    counts = check(cluster, with_keys)
    off = check(cluster, without_keys)
    with capsys.disabled():  # the counts go to the test log even when output is captured
        print(f"\nchaos, with Idempotency-Key: {counts}")
        print(f"chaos, keys switched off:    {off}")

    assert counts["posts written twice"] == 0
    assert counts["posts stored"] == counts["acknowledged posts"]
    # Every write has its key and every key its write: the answer is kept in the write's transaction.
    assert counts["kept keys"]["posts"] == counts["posts stored"]
    assert counts["workers killed"] >= 3
    assert counts["503 during the outage"] > 0
    # Some answers were lost after the write committed, and the retry got the kept answer.
    assert counts["replayed after a cut"] > 0, counts
    assert "Traceback" not in log

    assert off["kept keys"] == {}
    assert off["posts written twice"] > 0, f"keys off, yet no retry wrote a post twice: {off}"
