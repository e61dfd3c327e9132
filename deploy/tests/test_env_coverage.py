"""Every variable the app reads is set by Docker Compose and by the Kubernetes base.

The app's own list is its code: `env.<cast>("NAME")` in blogapi/settings.py and
`os.environ.get("NAME")` in gunicorn.conf.py. A new setting fails these tests until the
deployments set it, or it is added below with the reason it may stay at its default.
"""

import re

import pytest

from .manifests import ROOT, app_containers, compose, env_reads, k8s_one

SETTINGS = env_reads(ROOT / "blogapi" / "settings.py")
GUNICORN = env_reads(ROOT / "gunicorn.conf.py")
APP_VARIABLES = SETTINGS | GUNICORN
# Secrets: never in the ConfigMap. CACHE_URL is one in Kubernetes, where it carries Redis's password.
SECRETS = {"SECRET_KEY", "DATABASE_URL", "EMAIL_URL", "CACHE_URL"}
# In the SealedSecret for other containers than the app's: Redis's own password.
OTHER_SECRETS = {"REDIS_PASSWORD"}
COMPOSE_APP_SERVICES = ("migrate", "api", "worker")

# Read by the app, deliberately left at their defaults by docker-compose.yml.
COMPOSE_LEFT_AT_DEFAULT = {
    # The image listens on 0.0.0.0:8000, which is the port that compose publishes.
    "GUNICORN_BIND",
    # One host: one worker per CPU the container may use, which gunicorn.conf.py reads itself.
    "WEB_CONCURRENCY",
    # Threads per worker: the measured default (8) suits the API on any host.
    "GUNICORN_THREADS",
    # The 30 s default fits API requests; no proxy with a longer timeout in front.
    "GUNICORN_TIMEOUT",
    # Nothing proxies to the api container, so no forwarded headers to trust.
    "FORWARDED_ALLOW_IPS",
}
# Read by the app, deliberately left at their defaults by deploy/k8s.
K8S_LEFT_AT_DEFAULT = {
    # containerPort 8000 is the image's default bind.
    "GUNICORN_BIND",
}


def compose_environment(service: str) -> dict[str, str]:
    environment = compose()["services"][service].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return environment


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_the_app_variables_are_found_in_the_code():
    # Guards the parser itself: an empty set would make every coverage test below pass.
    assert {"SECRET_KEY", "DATABASE_URL", "EMAIL_URL", "CACHE_URL", "AUTH_THROTTLE_RATE"} <= SETTINGS
    assert "GUNICORN_BIND" in GUNICORN


def test_every_allow_listed_variable_is_one_the_app_reads():
    assert (COMPOSE_LEFT_AT_DEFAULT | K8S_LEFT_AT_DEFAULT) <= APP_VARIABLES


def test_env_example_documents_every_setting():
    assert SETTINGS - env_example_names() == set()


@pytest.mark.parametrize("service", COMPOSE_APP_SERVICES)
def test_compose_sets_every_variable_the_app_reads(service):
    missing = APP_VARIABLES - COMPOSE_LEFT_AT_DEFAULT - compose_environment(service).keys()
    assert missing == set(), f"set these in docker-compose.yml (x-app environment): {sorted(missing)}"


@pytest.mark.parametrize("service", COMPOSE_APP_SERVICES)
def test_compose_takes_secrets_from_the_env_file(service):
    environment = compose_environment(service)
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
    assert compose()["services"]["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_compose_runs_background_tasks_in_the_worker():
    assert compose_environment("api")["TASKS_BACKEND"] == "database"
    assert compose()["services"]["worker"]["command"] == ["python", "manage.py", "db_worker"]


def test_k8s_config_map_and_sealed_secret_cover_every_variable_the_app_reads():
    config = set(k8s_one("ConfigMap")["data"])
    secret = set(k8s_one("SealedSecret")["spec"]["encryptedData"])
    missing = APP_VARIABLES - K8S_LEFT_AT_DEFAULT - config - secret
    assert missing == set(), f"set these in deploy/k8s/configmap.yaml or the SealedSecret: {sorted(missing)}"
    assert secret == SECRETS | OTHER_SECRETS
    assert config & SECRETS == set()


def test_k8s_config_values_are_strings():
    # A bare `false` or `30` is a YAML bool or int, which a ConfigMap refuses.
    values = k8s_one("ConfigMap")["data"].values()
    assert all(isinstance(value, str) for value in values)


def test_every_k8s_app_container_loads_the_config_map_and_the_secret():
    config_name = k8s_one("ConfigMap")["metadata"]["name"]
    sealed = k8s_one("SealedSecret")
    secret_name = (
        sealed["spec"].get("template", {}).get("metadata", {}).get("name", sealed["metadata"]["name"])
    )
    containers = dict(app_containers())
    assert {"blogapi/api", "blogapi-worker/worker", "blogapi-migrate/migrate"} <= containers.keys()
    for name, container in containers.items():
        sources = container.get("envFrom", [])
        assert {"configMapRef": {"name": config_name}} in sources, name
        assert {"secretRef": {"name": secret_name}} in sources, name
