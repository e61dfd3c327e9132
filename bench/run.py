"""`make bench`: load-test blogapi under gunicorn on one core, then the feed at 1,000,000 posts.

1. creates a fresh PostgreSQL database and migrates it;
2. starts gunicorn with the production config (gunicorn.conf.py, DEBUG off) pinned to one CPU;
3. registers and logs in the users over HTTP, then seeds posts and likes with generate_series;
4. drives each scenario with wrk (bench/load.lua) pinned to another CPU and prints
   req/s, p50, p99 and non-2xx per scenario;
5. copies the small data to a second database served by a second gunicorn (the reference),
   grows the data to 1,000,000 posts / 5,000,000 likes and measures the feed at every depth
   (cursors 500,000 posts deep, made with the project's own encoder), filtered and searched,
   each in `--rounds` rounds taking turns with the first page at the small size, so a drift of
   the machine's speed falls on both (target: the median ratio at least 0.67);
6. stops gunicorn and drops the databases (also on failure or Ctrl-C).

With `--variant LABEL:VAR=VAL[,VAR=VAL...]` (repeatable) step 4 instead starts one gunicorn per
variant, with those extra environment variables, on the same data, and runs each scenario
`--rounds` times per variant, the variants taking turns (rows a scenario wrote are deleted before
the next scenario); a table gives each variant's median req/s and the median of its per-round
ratios to the first variant. Step 5 is then skipped. `--in-turns` (no variants) measures the
scenarios themselves in turns, each against the first (`--scenarios create,create_keyed`).
For example:
    --scenarios list,create --variant plain: --variant observed:METRICS_ENABLED=true,LOG_FORMAT=json
Rate limits are off unless a variant turns them on (USER_RATE_LIMIT=600/min, ...).

Run it with the project's virtualenv (`make bench` does); `-h` lists the knobs.
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "load.lua"
PASSWORD = "bench-password-{}-Kq8"
# The one word the search scenario looks for: it sits in a fixed number of posts at every size,
# so both sizes ask the same question and get answers of the same length.
NEEDLE = "quokka"
NEEDLE_POSTS = 20
# A word in every second post: a search that matches half the table at any size.
COMMON = "wombat"
WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    env = os.environ.get
    parser.add_argument("--pg", default=env("BENCH_PG", "postgres://root@127.0.0.1:5432"))
    parser.add_argument("--db", default=env("BENCH_DB", "blogapi_bench"), help="created and dropped")
    parser.add_argument("--port", type=int, default=int(env("BENCH_PORT", "8099")))
    parser.add_argument("--server-cpus", default=env("BENCH_SERVER_CPUS", "1"))
    parser.add_argument("--client-cpus", default=env("BENCH_CLIENT_CPUS", "0"))
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--posts", type=int, default=2_000)
    parser.add_argument("--votes", type=int, default=5_000)
    parser.add_argument("--big-posts", type=int, default=1_000_000)
    parser.add_argument("--big-votes", type=int, default=5_000_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--login-connections", type=int, default=4)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="discarded seconds before each")
    parser.add_argument(
        "--scenarios", default="list,get,create,vote,login", help="also: create_keyed (Idempotency-Key)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        type=variant,
        default=[],
        metavar="LABEL:VAR=VAL[,VAR=VAL...]",
        help="a gunicorn of its own with these extra variables; scenarios run in turns (repeatable)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="comparisons (variants, the feed against the small first page) run this many times in turn",
    )
    parser.add_argument(
        "--in-turns",
        action="store_true",
        help="run the scenarios --rounds times in turn, each as a ratio to the first (no variants)",
    )
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1M-post feed scenarios")
    parser.add_argument("--keep", action="store_true", help="leave the database in place")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args()


def variant(text: str) -> tuple[str, dict[str, str]]:
    """`LABEL:VAR=VAL,VAR=VAL`; a piece without `=` continues the previous value (a list of CIDRs)."""
    label, sep, assignments = text.partition(":")
    if not sep or not label:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL:VAR=VAL[,VAR=VAL...] (LABEL: for none)")
    env: dict[str, str] = {}
    name = None
    for piece in assignments.split(",") if assignments else []:
        key, equals, value = piece.partition("=")
        if equals and key.isidentifier():
            name, env[key] = key, value
        elif name is not None:
            env[name] += "," + piece
        else:
            raise argparse.ArgumentTypeError(f"{text!r}: {piece!r} is not VAR=VAL")
    return label, env


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Server:
    """gunicorn with the project's config, pinned, on a database of its own."""

    def __init__(self, args: argparse.Namespace, database_url: str, logfile: Path):
        self.args = args
        self.url = f"http://127.0.0.1:{args.port}"
        self.env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": database_url,
            # Every budget off: a variant turns one on to measure it.
            "AUTH_THROTTLE_RATE": "off",
            "USER_RATE_LIMIT": "off",
            "POST_RATE_LIMIT": "off",
            "VOTE_RATE_LIMIT": "off",
            "ACCESS_TOKEN_LIFETIME_MINUTES": "240",
            "GUNICORN_BIND": f"127.0.0.1:{args.port}",
        }
        self.cpus = args.server_cpus
        self.logfile = logfile
        self.process: subprocess.Popen | None = None

    def sibling(self, port: int, extra_env: dict[str, str]) -> "Server":
        """Another gunicorn on `port`, same secret and CPU, with `extra_env` on top (not started)."""
        other = Server(self.args, self.env["DATABASE_URL"], self.logfile.with_suffix(f".{port}.log"))
        other.url = f"http://127.0.0.1:{port}"
        other.env = {**self.env, **extra_env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        return other

    def manage(self, *command: str) -> None:
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=self.env, check=True)

    def python(self, code: str) -> str:
        """Run `code` in Django with the server's settings (its SECRET_KEY); returns its output."""
        command = [sys.executable, "manage.py", "shell", "-c", code]
        return subprocess.run(
            command, cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def start(self) -> None:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        command = [str(gunicorn), "blogapi.wsgi"]
        if self.cpus:
            command = ["taskset", "-c", self.cpus, *command]
        with self.logfile.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=out)
        for _ in range(100):
            try:
                if http(f"{self.url}/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not come up; see {self.logfile}")

    def cpu_seconds(self) -> float:
        """User and system CPU used so far by gunicorn and its workers (steal time is not in it)."""
        pids = [self.process.pid] if self.process else []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and self.process and _proc_stat(entry.name)[1] == self.process.pid:
                pids.append(int(entry.name))
        return sum(_proc_stat(str(pid))[0] for pid in pids)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: str) -> tuple[float, int]:
    """(user + system CPU seconds, parent pid) of a process; (0, 0) once it is gone."""
    try:
        fields = (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[1])


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq; not idle,
    I/O wait or steal): the server, PostgreSQL, Redis and wrk alike."""
    user, nice, system, _idle, _iowait, irq, softirq, *_ = (
        int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    )
    return (user + nice + system + irq + softirq) / TICK


def http(url: str, data: bytes | None = None, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def seed_users(server: Server, count: int, tag: str) -> list[dict]:
    """Register and log in over HTTP, so passwords and tokens come from the real endpoints."""
    users = []
    for i in range(count):
        email, password = f"bench{tag}u{i:02d}@example.com", PASSWORD.format(i)
        status, body = http(
            f"{server.url}/api/v1/users/", json.dumps({"email": email, "password": password}).encode()
        )
        if status != 201:
            raise SystemExit(f"registration answered {status}: {body}")
        form = urllib.parse.urlencode({"username": email, "password": password})
        status, tokens = http(
            f"{server.url}/api/v1/auth/token/", form.encode(), "application/x-www-form-urlencoded"
        )
        if status != 200:
            raise SystemExit(f"login answered {status}: {tokens}")
        users.append({"id": body["id"], "token": tokens["access_token"], "login": form})
    return users


def seed_posts(db, *, total: int, user_ids: list[int]) -> None:
    """Top posts up to `total`, older than any already there; one in 50 is a draft."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(MIN(created_at), now()) FROM posts_post"
        )
        have, last_id, oldest = cursor.fetchone()
        if have >= total:
            return
        cursor.execute(
            """
            INSERT INTO posts_post (title, content, published, owner_id, vote_count, created_at, updated_at)
            SELECT 'seed post ' || g,
                   CASE WHEN g <= %(needle_posts)s THEN %(needle)s || ' ' ELSE '' END
                   || CASE WHEN g %% 2 = 0 THEN %(common)s || ' ' ELSE '' END
                   || array_to_string(ARRAY(
                       SELECT (%(words)s::text[])[1 + (g * 7919 + i * 104729) %% %(nwords)s]
                       FROM generate_series(1, 25) i), ' '),
                   g %% 50 <> 0,
                   (%(owners)s::bigint[])[1 + g %% %(nowners)s],
                   0,
                   %(oldest)s - make_interval(secs => %(last)s + 1 - g),
                   %(oldest)s - make_interval(secs => %(last)s + 1 - g)
            FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
            """,
            {
                "needle_posts": NEEDLE_POSTS,
                "needle": NEEDLE,
                "common": COMMON,
                "words": WORDS,
                "nwords": len(WORDS),
                "owners": user_ids,
                "nowners": len(user_ids),
                "oldest": oldest,
                "first": last_id + 1,
                "last": last_id + total - have,
            },
        )
    db.commit()


def seed_votes(db, *, total: int) -> None:
    """Top likes up to `total`, spread evenly and pseudo-randomly over (user, post) pairs."""
    with db.cursor() as cursor:
        cursor.execute("SELECT (SELECT COUNT(*) FROM posts_post) * (SELECT COUNT(*) FROM accounts_user)")
        pairs = cursor.fetchone()[0]
        for salt in range(1, 6):
            cursor.execute("SELECT COUNT(*) FROM votes_vote")
            missing = total - cursor.fetchone()[0]
            if missing <= 0:
                break
            # A hash picks a little more than the missing share of all pairs; its lowest values
            # win, so the likes spread over every post. Pairs already liked are skipped.
            per_mille = min(1000, int(1000 * 1.3 * missing / max(pairs, 1)) + 1)
            cursor.execute(
                """
                INSERT INTO votes_vote (user_id, post_id, created_at)
                SELECT u.id, p.id, now() FROM posts_post p CROSS JOIN accounts_user u
                WHERE (p.id * 2654435761 + u.id * 40503 * %(salt)s) %% 1000 < %(per_mille)s
                ORDER BY (p.id * 2654435761 + u.id * 40503 * %(salt)s) %% 1000, p.id, u.id
                LIMIT %(missing)s
                ON CONFLICT DO NOTHING
                """,
                {"salt": salt, "per_mille": per_mille, "missing": missing},
            )
    db.commit()


def analyze(db) -> None:
    db.autocommit = True
    with db.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    db.autocommit = False


def sizes(db) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT (SELECT COUNT(*) FROM posts_post), (SELECT COUNT(*) FROM votes_vote)")
        posts, votes = cursor.fetchone()
    db.commit()
    return f"{posts:,} posts / {votes:,} likes"


def run_wrk(args, server: Server, name: str, spec: dict, connections: int) -> dict:
    """A warm-up run (discarded), then the measured run; returns its figures."""
    lines = [f"{key} {value}" for key, value in spec.items() if isinstance(value, str)]
    for key in ("token", "post", "login"):
        lines += [f"{key} {value}" for value in spec.get(key + "s", [])]
    result = None
    for seconds in (args.warmup, args.duration):
        if seconds <= 0:
            continue
        # A fresh nonce per wrk run: Idempotency-Keys never repeat across runs and variants.
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
            handle.write("\n".join([*lines, f"nonce {secrets.token_hex(6)}"]) + "\n")
        env = {**os.environ, "BENCH_INPUT": handle.name}
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
        command += ["-s", str(LUA), server.url]
        if args.client_cpus:
            command = ["taskset", "-c", args.client_cpus, *command]
        server_cpu, machine_cpu = server.cpu_seconds(), machine_busy_seconds()
        try:
            output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        finally:
            os.unlink(handle.name)
        server_cpu, machine_cpu = server.cpu_seconds() - server_cpu, machine_busy_seconds() - machine_cpu
        result = json.loads(output.split("BENCH-RESULT ", 1)[1])
    seconds = result["duration_us"] / 1e6
    codes = {int(code): n for code, n in result["codes"].items()}
    return {
        "scenario": name,
        "connections": connections,
        "rps": result["requests"] / seconds,
        # CPU per request (ms): of the gunicorn processes, and of the whole machine.
        "server_cpu_ms": server_cpu * 1000 / max(result["requests"], 1),
        "machine_cpu_ms": machine_cpu * 1000 / max(result["requests"], 1),
        "p50_ms": result["p50_us"] / 1000,
        "p90_ms": result["p90_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "requests": result["requests"],
        "non_2xx": sum(n for code, n in codes.items() if not 200 <= code < 300),
        "5xx": sum(n for code, n in codes.items() if code >= 500),
        "socket_errors": result["socket_errors"],
        "codes": dict(sorted(codes.items())),
    }


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(
        f"{'scenario':<16}{'conns':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'5xx':>6}  codes"
    )
    for row in rows:
        codes = " ".join(f"{code}:{n}" for code, n in row["codes"].items())
        print(
            f"{row['scenario']:<16}{row['connections']:>6}{row['rps']:>9.1f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['non_2xx']:>9}{row['5xx']:>6}  {codes}"
        )
    print(flush=True)


def in_turns(args, contenders: list[tuple[str, "Server", dict]], connections: int) -> dict[str, list[dict]]:
    """Every contender measured `args.rounds` times, taking turns, the first to go moving on each
    round: a drift of the machine's speed falls on all of them alike, not on whichever ran last."""
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in contenders}
    for turn in range(max(args.rounds, 1)):
        shift = turn % len(contenders)
        for label, server, spec in contenders[shift:] + contenders[:shift]:
            runs[label].append(run_wrk(args, server, label, spec, connections))
    return runs


def summarize(runs: dict[str, list[dict]]) -> list[dict]:
    """Medians per contender; each round's req/s is divided by the first contender's same round."""
    first = next(iter(runs.values()))
    rows = []
    for label, measured in runs.items():
        pairs = list(zip(measured, first, strict=True))
        ratios = sorted(row["rps"] / base["rps"] for row, base in pairs)
        # CPU per request, as a ratio in the sense of req/s: the first's CPU over this one's.
        cpu_ratios = {
            kind: statistics.median(base[kind] / row[kind] if row[kind] else 0.0 for row, base in pairs)
            for kind in ("server_cpu_ms", "machine_cpu_ms")
        }
        codes: dict[int, int] = {}
        for row in measured:
            for code, n in row["codes"].items():
                codes[code] = codes.get(code, 0) + n
        rows.append(
            {
                "label": label,
                "rps": statistics.median(row["rps"] for row in measured),
                "rps_all": [round(row["rps"], 1) for row in measured],
                "ratio": statistics.median(ratios),
                "ratio_min": ratios[0],
                "ratio_max": ratios[-1],
                "server_cpu_ms": statistics.median(row["server_cpu_ms"] for row in measured),
                "server_cpu_ratio": cpu_ratios["server_cpu_ms"],
                "machine_cpu_ms": statistics.median(row["machine_cpu_ms"] for row in measured),
                "machine_cpu_ratio": cpu_ratios["machine_cpu_ms"],
                "p50_ms": statistics.median(row["p50_ms"] for row in measured),
                "p99_ms": statistics.median(row["p99_ms"] for row in measured),
                "non_2xx": sum(row["non_2xx"] for row in measured),
                "5xx": sum(row["5xx"] for row in measured),
                "codes": dict(sorted(codes.items())),
            }
        )
    return rows


def print_variants(rows: list[dict], rounds: int) -> None:
    """Each scenario under each variant: median req/s, and the median of its per-round ratios."""
    print(f"\nIn turns, {rounds} rounds (ratio: median and range of each round's req/s over the")
    print("first variant's in the same round; with --in-turns, over the first scenario's).")
    print("CPU ms per request of the server (gunicorn) and of the whole machine (server, PostgreSQL,")
    print("Redis, wrk), steal time excluded; `x` is the first's CPU over this one's, in the sense of")
    print("the req/s ratio (0.95: this one costs 1/0.95 of the first), median of the rounds.")
    print(
        f"{'scenario':<14}{'variant':<14}{'req/s':>8}{'ratio':>7}{'range':>12}{'server':>8}{'x':>6}"
        f"{'machine':>8}{'x':>6}{'p50 ms':>8}{'p99 ms':>8}{'non-2xx':>8}{'5xx':>5}  each round's req/s"
    )
    for row in rows:
        spread = f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        cpu = f"{row['server_cpu_ms']:>8.3f}{row['server_cpu_ratio']:>6.2f}"
        cpu += f"{row['machine_cpu_ms']:>8.3f}{row['machine_cpu_ratio']:>6.2f}"
        print(
            f"{row['scenario']:<14}{row['variant']:<14}{row['rps']:>8.1f}{row['ratio']:>7.2f}{spread:>12}{cpu}"
            f"{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}{row['non_2xx']:>8}{row['5xx']:>5}  "
            + " ".join(f"{rps:.0f}" for rps in row["rps_all"])
        )
    print(flush=True)


def marks(db) -> tuple[int, int]:
    """The last post and like ids: what a variant's scenarios write lies above them."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM posts_post),"
            " (SELECT COALESCE(MAX(id), 0) FROM votes_vote)"
        )
        last = cursor.fetchone()
    db.commit()
    return last


def restore(db, last: tuple[int, int]) -> None:
    """Delete what a variant's scenarios wrote, so the next variant meets the same data."""
    with db.cursor() as cursor:
        cursor.execute("DELETE FROM votes_vote WHERE id > %s", [last[1]])
        cursor.execute("DELETE FROM posts_post WHERE id > %s", [last[0]])
    db.commit()
    analyze(db)


# The cursor of a next link `depth` published posts down the feed in `ordering`.
DEEP_CURSOR = """
from httpkit.pagination import KeysetPagination
from posts.models import Post
posts = Post.objects.filter(published=True).order_by(*{ordering!r})
print(KeysetPagination().cursor_after(posts, posts[{depth}]))
"""


def deep_cursor(server: Server, ordering: tuple[str, str], depth: int) -> str:
    code = DEEP_CURSOR.format(ordering=ordering, depth=depth)
    # The last line: the shell may print a banner first.
    return urllib.parse.quote(server.python(code).strip().splitlines()[-1], safe="")


def feed_specs(server: Server, users: list[dict], posts: int) -> dict[str, dict]:
    """The feed at 1M posts: every depth, both orderings, a filter, a broad and a narrow search."""
    tokens = [user["token"] for user in users]
    depth = posts // 2
    by_date = deep_cursor(server, ("-created_at", "-id"), depth)
    by_votes = deep_cursor(server, ("-vote_count", "-id"), depth)
    paths = {
        "first page": "/api/v1/posts/?limit=10",
        f"cursor {depth:,} deep": f"/api/v1/posts/?limit=10&cursor={by_date}",
        "offset=10000": "/api/v1/posts/?limit=10&offset=10000",
        f"-votes {depth:,} deep": f"/api/v1/posts/?limit=10&ordering=-votes&cursor={by_votes}",
        "owner": f"/api/v1/posts/?limit=10&owner={users[0]['id']}",
        "search half": f"/api/v1/posts/?limit=10&search={COMMON}",
        f"search {NEEDLE_POSTS}": f"/api/v1/posts/?limit=10&search={NEEDLE}",
    }
    return {name: {"path": path, "tokens": tokens} for name, path in paths.items()}


def copy_database(admin, source: str, target: str) -> None:
    """`target` made afresh as a copy of `source`, once the sessions on `source` have ended."""
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{target}"')
        for attempt in range(50):
            try:
                cursor.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
                return
            except psycopg2.errors.ObjectInUse:  # a closed session's backend has not exited yet
                if attempt == 49:
                    raise
                time.sleep(0.2)


def main() -> int:
    args = parse_args()
    base = args.pg.rstrip("/")
    admin = psycopg2.connect(f"{base}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
        cursor.execute(f'CREATE DATABASE "{args.db}"')
    logfile = Path(tempfile.gettempdir()) / f"{args.db}-gunicorn.log"
    server = Server(args, f"{base}/{args.db}", logfile)
    small_db = f"{args.db}_small"
    others: list[Server] = []  # the variants' servers, the small copy's server
    db = None
    results: dict = {"scenarios": [], "scaling": [], "variants": []}
    if args.variant:
        args.no_scaling = True
    try:
        log(f"migrating {args.db}")
        server.manage("migrate", "--noinput", "-v0")
        server.start()
        log(f"gunicorn up at {server.url} on CPU {server.cpus or 'any'} (log: {logfile})")
        db = psycopg2.connect(f"{base}/{args.db}")
        users = seed_users(server, args.users, time.strftime("%H%M%S"))
        seed_posts(db, total=args.posts, user_ids=[user["id"] for user in users])
        seed_votes(db, total=args.votes)
        analyze(db)
        small = sizes(db)
        log(f"seeded {args.users} users, {small}")
        with db.cursor() as cursor:
            cursor.execute("SELECT id FROM posts_post WHERE published ORDER BY id")
            post_ids = [str(row[0]) for row in cursor.fetchall()]
        db.commit()
        tokens = [user["token"] for user in users]
        seeded = marks(db)

        scenarios = {
            "list": {"path": "/api/v1/posts/?limit=10&offset=0", "tokens": tokens},
            "get": {"path": "/api/v1/posts/{post}/", "tokens": tokens, "posts": post_ids},
            "create": {
                "method": "POST",
                "path": "/api/v1/posts/",
                "body": '{"title": "bench post {n}", "content": "written under load"}',
                "tokens": tokens,
            },
            "create_keyed": {
                "method": "POST",
                "path": "/api/v1/posts/",
                "body": '{"title": "bench post {n}", "content": "written under load"}',
                "tokens": tokens,
                "keyed": "1",
            },
            "vote": {
                "method": "POST",
                "path": "/api/v1/votes/",
                "body": '{"post_id": {post}, "dir": 1}',
                "tokens": tokens,
                "posts": post_ids,
            },
            "login": {
                "method": "POST",
                "path": "/api/v1/auth/token/",
                "ctype": "application/x-www-form-urlencoded",
                "logins": [user["login"] for user in users],
            },
        }
        names = args.scenarios.split(",")
        if unknown := [name for name in names if name not in scenarios]:
            raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(scenarios)}")

        def run_scenarios() -> list[dict]:
            rows = []
            for name in names:
                connections = args.login_connections if name == "login" else args.connections
                rows.append(run_wrk(args, server, name, scenarios[name], connections))
                row = rows[-1]
                log(f"{name}: {row['rps']:.1f} req/s, p50 {row['p50_ms']:.2f} ms, codes {row['codes']}")
            return rows

        if args.variant:
            server.stop()
            contenders = []
            for number, (label, extra_env) in enumerate(args.variant, start=1):
                others.append(server.sibling(args.port + number, extra_env))
                others[-1].start()
                contenders.append((label, others[-1]))
                log(f"variant {label} at {others[-1].url}: {extra_env or 'no extra variables'}")
            for name in names:
                connections = args.login_connections if name == "login" else args.connections
                spec = scenarios[name]
                runs = in_turns(args, [(label, one, spec) for label, one in contenders], connections)
                for row in summarize(runs):
                    results["variants"].append({"scenario": name, "variant": row["label"], **row})
                    figures = f"{row['rps']:.1f} req/s, {row['ratio']:.2f} of the first variant"
                    log(f"{name} {row['label']}: {figures}")
                restore(db, seeded)
            print_variants(results["variants"], args.rounds)
        elif args.in_turns:
            # One scenario against another on the same server (create against create_keyed).
            contenders = [(name, server, scenarios[name]) for name in names]
            for row in summarize(in_turns(args, contenders, args.connections)):
                results["scenarios"].append({"scenario": row["label"], "variant": "-", **row})
            print_variants(results["scenarios"], args.rounds)
        else:
            results["scenarios"] = run_scenarios()
            print_table(f"blogapi on CPU {server.cpus or 'any'}, {small} at the start", results["scenarios"])

        if not args.no_scaling:
            # The posts and likes the scenarios wrote go first: they are the newest rows, and none
            # holds the searched words, so the broad search would have to pass them all on every
            # page (docs/performance.md). The feed is measured on the seeded shape alone.
            restore(db, seeded)
            # The reference, the first page at the small size, is served from a copy of the small
            # data by a second gunicorn and measured in turns with each feed request.
            server.stop()
            db.close()
            copy_database(admin, args.db, small_db)
            db = psycopg2.connect(f"{base}/{args.db}")
            server.start()
            others.append(server.sibling(args.port + 1, {"DATABASE_URL": f"{base}/{small_db}"}))
            reference_server = others[-1]
            reference_server.start()
            log(f"the small data copied to {small_db}, served at {reference_server.url}")
            log(f"growing the data to {args.big_posts:,} posts / {args.big_votes:,} likes")
            seed_posts(db, total=args.big_posts, user_ids=[user["id"] for user in users])
            seed_votes(db, total=args.big_votes)
            analyze(db)
            big = sizes(db)
            log(f"now {big}")
            first_page = {"path": "/api/v1/posts/?limit=10", "tokens": tokens}
            for name, spec in feed_specs(server, users, args.big_posts).items():
                contenders = [("small first page", reference_server, first_page), (name, server, spec)]
                reference, row = summarize(in_turns(args, contenders, args.connections))
                row.update(scenario=name, reference_rps=reference["rps"])
                results["scaling"].append(row)
                log(
                    f"{name} at {big}: {row['rps']:.1f} req/s, {row['ratio']:.2f} of the small first page"
                    f" ({reference['rps']:.1f} req/s in the same rounds)"
                )
            print(
                f"\nThe feed at {big}, each request in {args.rounds} rounds in turn with the first page"
                f" at {small}\n(ratio: median and range of each round's req/s over the first page's)"
            )
            header = f"{'request':<22}{'req/s':>8}{'first p.':>9}{'ratio':>7}{'range':>12}"
            print(f"{header}{'p50 ms':>9}{'p99 ms':>9}{'5xx':>5}  target 0.67")
            for row in results["scaling"]:
                verdict = "ok" if row["ratio"] >= 0.67 and not row["5xx"] else "MISSED"
                spread = f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
                figures = f"{row['rps']:>8.1f}{row['reference_rps']:>9.1f}{row['ratio']:>7.2f}{spread:>12}"
                latency = f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['5xx']:>5}"
                print(f"{row['scenario']:<22}{figures}{latency}  {verdict}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        for one in [server, *others]:
            one.stop()
        if db is not None:
            db.close()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{small_db}"')
            if not args.keep:
                cursor.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
