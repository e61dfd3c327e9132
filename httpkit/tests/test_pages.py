"""The pages around the API: front door, API root, favicon, admin branding, --help anywhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import session_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_front_door_names_the_service_and_links_docs_api_root_and_admin(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<title>blogapi</title>" in html
    for link in ('href="/api/docs/"', 'href="/api/v1/"', 'href="/admin/"', 'rel="icon"'):
        assert link in html


@pytest.mark.django_db
def test_api_root_is_public_and_links_every_collection(api_client):
    response = api_client.get("/api/v1/")
    assert response.status_code == 200
    links = response.json()
    for path in ("/api/v1/users/", "/api/v1/users/me/", "/api/v1/posts/", "/api/v1/posts/mine/"):
        assert f"http://testserver{path}" in links.values()
    assert {"posts", "posts/mine", "votes", "users", "users/me", "auth/token"} <= set(links)
    assert links["auth/password-recovery"] == "http://testserver/api/v1/auth/password-recovery/"
    assert not any("{" in url or "<" in url for url in links.values())


@pytest.mark.django_db
def test_api_root_is_browsable(client):
    page = client.get("/api/v1/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert "blogapi API root" in page.content.decode()


@pytest.mark.django_db
def test_favicon_is_served(client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0].endswith("favicon.svg")


@pytest.mark.django_db
def test_admin_is_branded_and_view_site_leads_home(admin_user):
    page = session_client(admin_user).get("/admin/")
    html = page.content.decode()
    assert "blogapi administration" in html
    assert "Django administration" not in html
    assert '<a href="/">View site</a>' in html


# Every management command's --help, with no environment at all (no DEBUG, no SECRET_KEY).


def clean_env() -> dict:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", str(ROOT))}


# One process for all commands (one Django start-up): each `--help` as manage.py runs it.
EVERY_HELP = """
import contextlib, io, json, sys
import manage
from django.core.management import get_commands

failures = {}


def help_of(name):
    sys.argv = ["manage.py", name, "--help"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            manage.main()
            code = 0
        except SystemExit as exit:
            code = exit.code or 0
    if code != 0 or "usage:" not in out.getvalue():
        failures[name] = err.getvalue()[-300:]


# The first one loads the settings from a bare environment; then every command in turn.
help_of("seed_demo")
for name in sorted(get_commands()):
    help_of(name)
print(json.dumps({"commands": len(get_commands()), "failures": failures}))
"""


def run_python(*arguments: str) -> subprocess.CompletedProcess:
    """This interpreter on `arguments`, in the project folder, with no environment at all."""
    return subprocess.run(
        [sys.executable, *arguments], cwd=ROOT, env=clean_env(), capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_every_command_help_works_without_any_environment():
    done = run_python("-c", EVERY_HELP)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["commands"] > 20
    assert result["failures"] == {}


@pytest.mark.slow
@pytest.mark.parametrize("command", [["check"], ["migrate", "--plan"], ["seed_demo"], ["shell", "-c", "1"]])
def test_production_still_refuses_to_run_without_a_secret_key(command):
    done = run_python("manage.py", *command)
    assert done.returncode == 3
    assert "SECRET_KEY must be set" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("arguments", [[], ["help"], ["help", "migrate"], ["seed_demo", "-h"]])
def test_help_in_every_spelling_works_without_any_environment(arguments):
    done = run_python("manage.py", *arguments)
    assert done.returncode == 0, done.stderr
    assert "Type 'manage.py help <subcommand>'" in done.stdout or "usage:" in done.stdout
