"""Readers for the deployment files, shared by the deploy tests."""

import ast
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
APP_IMAGE = "blogapi"


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _first_string(args: list[ast.expr]) -> str | None:
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    return None


def env_reads(path: Path) -> set[str]:
    """Names the module reads from the environment.

    Finds `env.<cast>("NAME", ...)` (django-environ), `os.environ.get("NAME")`, `os.getenv("NAME")`
    and `os.environ["NAME"]`.
    """
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            reads_env = (
                (isinstance(func.value, ast.Name) and func.value.id == "env" and func.attr != "read_env")
                or (func.attr == "get" and _is_os_environ(func.value))
                or (func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os")
            )
            name = _first_string(node.args) if reads_env else None
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            name = _first_string([node.slice])
        else:
            name = None
        if name:
            names.add(name)
    return names


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def k8s_resources() -> list[dict]:
    """Every resource the kustomize base lists, as written (without kustomize's transformations)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [
        doc
        for file_name in kustomization["resources"]
        for doc in yaml.safe_load_all((K8S / file_name).read_text())
        if doc
    ]


def k8s_one(kind: str, name: str | None = None) -> dict:
    """The one resource of that kind (and name, when given)."""
    (resource,) = (r for r in k8s_resources() if r["kind"] == kind and name in (None, r["metadata"]["name"]))
    return resource


def pod_spec(resource: dict) -> dict | None:
    """The pod template's spec of a workload, None for other kinds."""
    if resource["kind"] in ("Deployment", "Job"):
        return resource["spec"]["template"]["spec"]
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def app_containers() -> Iterator[tuple[str, dict]]:
    """(workload/container, container) for every container, init ones included, running the app image."""
    for resource in k8s_resources():
        spec = pod_spec(resource)
        if spec is None:
            continue
        for container in spec.get("initContainers", []) + spec["containers"]:
            if container["image"] == APP_IMAGE:
                yield f"{resource['metadata']['name']}/{container['name']}", container
