"""A user's journey through the Compose stack, from the host, through its published ports only.

Run by deploy/ci/stack-test, in steps between which the stack is restarted or broken:

    journey.py first  STATE API_URL MAIL_URL   register, log in, write, like, list, recover the
                                               password by email, reset it, admin login page
    journey.py kept   STATE API_URL            the data written by `first` is still there
    journey.py outage STATE API_URL STOP_FILE  requests while the database is stopped: 503, never
                                               500; after STOP_FILE appears, recovery by itself
    journey.py worker-back STATE API_URL MAIL_URL  the worker emails again after the outage

STATE is a JSON file that `first` writes (user, password, token, post) and the others read.
Standard library only, so the host needs nothing but python3. Each check prints one `ok` line;
the first failure exits non-zero with what was expected and what came back. A handful of requests
per step, well within the default rate limits (AUTH_THROTTLE_RATE 20/min per client address).
"""

import json
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = 10


class Answer:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def text(self) -> str:
        return self.body.decode(errors="replace")


def call(method: str, url: str, body=None, token: str | None = None) -> Answer:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def check(condition: bool, what: str, answer: Answer | None = None) -> None:
    if not condition:
        detail = f": {answer.status} {answer.text()[:300]}" if answer is not None else ""
        sys.exit(f"FAIL {what}{detail}")
    print(f"ok    {what}")


def expect(status: int, what: str, method: str, url: str, body=None, token=None) -> Answer:
    answer = call(method, url, body, token)
    check(answer.status == status, f"{what} -> {status}", answer)
    return answer


def wait_ready(api: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if call("GET", f"{api}/readyz").status == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    sys.exit(f"FAIL {api}/readyz did not answer 200 within {seconds:.0f}s")


def messages_to(mail: str, address: str) -> list[dict]:
    """The messages the catcher holds for `address`, newest first (mailpit's API)."""
    listing = call("GET", f"{mail}/api/v1/messages").json() or {}
    return [
        message
        for message in listing.get("messages", [])
        if any(to.get("Address", "").lower() == address for to in message.get("To", []))
    ]


def emailed_code(mail: str, address: str, count: int = 1, seconds: float = 90) -> str:
    """The 6-digit code of the newest message to `address`, once it holds `count` of them."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        to_address = messages_to(mail, address)
        if len(to_address) >= count:
            text = call("GET", f"{mail}/api/v1/message/{to_address[0]['ID']}").json()["Text"]
            codes = re.findall(r"\b(\d{6})\b", text)
            check(bool(codes), f"recovery email #{count} to {address} carries a 6-digit code")
            return codes[0]
        time.sleep(1)
    sys.exit(f"FAIL email #{count} to {address} did not reach the mail catcher within {seconds:.0f}s")


def first(state_file: Path, api: str, mail: str) -> None:
    wait_ready(api)
    expect(200, "GET /readyz", "GET", f"{api}/readyz")
    email = f"stack-{secrets.token_hex(4)}@example.com"
    password, new_password = "kitchen-table-" + secrets.token_hex(4), "garden-bench-" + secrets.token_hex(4)
    user = expect(201, "register", "POST", f"{api}/api/v1/users/", {"email": email, "password": password})
    login = expect(200, "log in", "POST", f"{api}/api/v1/auth/token/", {"email": email, "password": password})
    token = login.json()["access_token"]
    post = {"title": "Notes from the stack", "content": "Written through the published port."}
    created = expect(201, "write a post", "POST", f"{api}/api/v1/posts/", post, token).json()
    vote = {"post_id": created["id"], "dir": 1}
    expect(201, "like it", "POST", f"{api}/api/v1/votes/", vote, token)
    owner = user.json()["id"]
    listing = expect(200, "list", "GET", f"{api}/api/v1/posts/?owner={owner}", token=token).json()
    check(
        [(item["id"], item["votes"], item["has_voted"]) for item in listing["results"]]
        == [(created["id"], 1, True)],
        "the list shows the post with its like",
    )

    expect(202, "password recovery", "POST", f"{api}/api/v1/auth/password-recovery/", {"email": email})
    code = emailed_code(mail, email)
    reset = {"email": email, "code": code, "new_password": new_password}
    expect(200, "reset with the emailed code", "POST", f"{api}/api/v1/auth/password-reset/", reset)
    expect(
        401, "the old password", "POST", f"{api}/api/v1/auth/token/", {"email": email, "password": password}
    )
    login = expect(
        200,
        "log in with the new one",
        "POST",
        f"{api}/api/v1/auth/token/",
        {"email": email, "password": new_password},
    )

    page = call("GET", f"{api}/admin/login/")
    check(
        page.status == 200 and "text/html" in page.headers.get("Content-Type", ""), "admin login page", page
    )
    assets = sorted(set(re.findall(r'(?:href|src)="(/static/[^"?#]+)', page.text())))
    check(
        any(asset.endswith(".css") for asset in assets),
        f"admin page links its stylesheets ({len(assets)} assets)",
    )
    kinds = {".css": "text/css", ".js": "javascript", ".svg": "image/svg"}
    for asset in assets:
        answer = call("GET", api + asset)
        kind = next((value for ext, value in kinds.items() if asset.endswith(ext)), "")
        check(
            answer.status == 200 and kind in answer.headers.get("Content-Type", ""), f"static {asset}", answer
        )

    state = {"email": email, "password": new_password, "token": login.json()["access_token"], "post": created}
    state_file.write_text(json.dumps(state))


def kept(state_file: Path, api: str) -> None:
    state = json.loads(state_file.read_text())
    wait_ready(api)
    me = expect(
        200, "the account is still there", "GET", f"{api}/api/v1/users/me/", token=state["token"]
    ).json()
    check(me["email"] == state["email"], "same email")
    post = expect(
        200,
        "the post is still there",
        "GET",
        f"{api}/api/v1/posts/{state['post']['id']}/",
        token=state["token"],
    )
    body = post.json()
    check(
        (body["title"], body["votes"], body["has_voted"]) == (state["post"]["title"], 1, True),
        "same title, its like kept",
        post,
    )


def outage(state_file: Path, api: str, stop_file: Path) -> None:
    state = json.loads(state_file.read_text())
    probes = {
        "/healthz": None,
        "/readyz": None,
        f"/api/v1/posts/{state['post']['id']}/": state["token"],
    }
    seen: dict[str, set[int]] = {path: set() for path in probes}
    while not stop_file.exists():
        for path, token in probes.items():
            try:
                answer = call("GET", api + path, token=token)
            except OSError as error:
                sys.exit(f"FAIL GET {path} while the database is down: no answer ({error})")
            seen[path].add(answer.status)
            # API paths answer 503 {detail}; /readyz has its own body ({status, database}).
            body = answer.json()
            shaped = isinstance(body, dict) and ("detail" in body or path == "/readyz")
            if answer.status >= 500 and not (answer.status == 503 and shaped):
                sys.exit(f"FAIL GET {path} without a database: {answer.status} {answer.text()[:300]}")
        time.sleep(0.25)
    print(f"      statuses while the database was stopped: { {path: sorted(s) for path, s in seen.items()} }")
    check(seen["/healthz"] == {200}, "/healthz stayed 200")
    check(
        503 in seen["/readyz"] and seen["/readyz"] <= {200, 503},
        "/readyz answered 503 (and nothing but 200/503)",
    )
    api_path = next(path for path in probes if path.startswith("/api/"))
    check(
        503 in seen[api_path] and seen[api_path] <= {200, 503},
        "the API answered 503 (and nothing but 200/503)",
    )

    started = time.monotonic()
    deadline = started + 90
    while time.monotonic() < deadline:
        statuses = [call("GET", api + path, token=token).status for path, token in probes.items()]
        if statuses == [200, 200, 200]:
            check(
                True,
                f"the API recovered by itself {time.monotonic() - started:.1f}s after the database came back",
            )
            return
        time.sleep(1)
    sys.exit("FAIL the API did not recover within 90s of the database coming back")


def worker_back(state_file: Path, api: str, mail: str) -> None:
    """After the outage the worker sends emails again (one more recovery code arrives)."""
    state = json.loads(state_file.read_text())
    # The catcher keeps messages in memory: `down` and `up` emptied it.
    before = len(messages_to(mail, state["email"]))
    body = {"email": state["email"]}
    expect(202, "password recovery again", "POST", f"{api}/api/v1/auth/password-recovery/", body)
    emailed_code(mail, state["email"], count=before + 1)


def main() -> None:
    step, state_file, api, *rest = sys.argv[1:]
    if step == "first":
        first(Path(state_file), api, rest[0])
    elif step == "kept":
        kept(Path(state_file), api)
    elif step == "worker-back":
        worker_back(Path(state_file), api, rest[0])
    elif step == "outage":
        outage(Path(state_file), api, Path(rest[0]))
    else:
        sys.exit(f"unknown step {step}")


if __name__ == "__main__":
    main()
