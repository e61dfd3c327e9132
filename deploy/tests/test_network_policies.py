"""The NetworkPolicies of deploy/k8s, evaluated as a cluster would, and Redis's password.

`allowed()` applies the NetworkPolicy rules (Kubernetes docs, "Network Policies"): a connection
needs the destination's ingress policies and the source's egress policies to allow it, where a pod
no policy selects for a direction is open in that direction. Pods are described by their namespace
and labels, the way the base's workloads label them.
"""

import pytest

from .manifests import k8s_one, k8s_resources, pod_spec

NAMESPACE = "blogapi"
POLICIES = [resource for resource in k8s_resources() if resource["kind"] == "NetworkPolicy"]


def pod(component: str, namespace: str = NAMESPACE, **labels: str) -> dict:
    labels = labels or {"app.kubernetes.io/name": "blogapi", "app.kubernetes.io/component": component}
    return {"namespace": namespace, "labels": labels}


def workload_pods() -> dict[str, dict]:
    """Every workload of the base as a pod with its template's labels (api, worker, cache, ...)."""
    pods = {}
    for resource in k8s_resources():
        if pod_spec(resource) is None:
            continue
        template = resource["spec"].get("template") or resource["spec"]["jobTemplate"]["spec"]["template"]
        labels = template["metadata"]["labels"]
        pods[labels["app.kubernetes.io/component"]] = {"namespace": NAMESPACE, "labels": labels}
    return pods


PODS = workload_pods()
INGRESS_CONTROLLER = pod("", "ingress-nginx", **{"app.kubernetes.io/name": "ingress-nginx"})
OTHER_NAMESPACE_POD = pod("", "shop", app="shop")
DATABASE = pod("database")
DNS = pod("", "kube-system", **{"k8s-app": "kube-dns"})
API_PORT = (8000, "http")
APP_COMPONENTS = ("api", "worker", "migrate", "cleanup")


def selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        present, value = expression["key"] in labels, labels.get(expression["key"])
        operator = expression["operator"]
        if (
            (operator == "In" and value not in expression["values"])
            or (operator == "NotIn" and value in expression["values"])
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def peer_matches(peer: dict, other: dict | None, policy_namespace: str) -> bool:
    """Whether a from/to entry covers the other pod (None: an address outside the cluster)."""
    if other is None:
        return "ipBlock" in peer
    if "ipBlock" in peer:
        return False  # meant for addresses outside the cluster; pods are matched by selectors here
    namespace_labels = {"kubernetes.io/metadata.name": other["namespace"]}
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], namespace_labels)
    else:
        in_namespace = other["namespace"] == policy_namespace
    return in_namespace and selects(peer.get("podSelector", {}), other["labels"])


def port_matches(rule_ports: list | None, port: tuple[int, str], protocol: str) -> bool:
    if not rule_ports:
        return True
    return any(
        entry.get("protocol", "TCP") == protocol and entry.get("port") in (None, *port)
        for entry in rule_ports
    )


def side_allows(direction: str, subject: dict, other: dict | None, port, protocol) -> bool:
    """Whether the policies selecting `subject` for `direction` let the connection through."""
    if subject is None or subject["namespace"] != NAMESPACE:
        return True  # only this namespace's policies are under test
    selecting = [
        policy
        for policy in POLICIES
        if selects(policy["spec"]["podSelector"], subject["labels"])
        and direction in policy["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(
        port_matches(rule.get("ports"), port, protocol)
        and (peers_key not in rule or any(peer_matches(peer, other, NAMESPACE) for peer in rule[peers_key]))
        for policy in selecting
        for rule in policy["spec"].get(key, [])
    )


def allowed(source: dict | None, destination: dict | None, port: tuple, protocol: str = "TCP") -> bool:
    return side_allows("Egress", source, destination, port, protocol) and side_allows(
        "Ingress", destination, source, port, protocol
    )


def test_the_workloads_are_found():
    assert set(APP_COMPONENTS) | {"cache"} <= PODS.keys()


def test_default_deny_selects_every_pod_both_ways():
    (deny,) = [policy for policy in POLICIES if policy["spec"]["podSelector"] == {}]
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]


def test_the_ingress_controller_reaches_the_api():
    assert allowed(INGRESS_CONTROLLER, PODS["api"], API_PORT)


@pytest.mark.parametrize("source", ["worker", "cache", "migrate", "cleanup"])
def test_other_pods_of_the_namespace_do_not_reach_the_api(source):
    assert not allowed(PODS[source], PODS["api"], API_PORT)


def test_pods_of_other_namespaces_do_not_reach_the_api():
    assert not allowed(OTHER_NAMESPACE_POD, PODS["api"], API_PORT)
    # A pod named like the controller, but outside the controller's namespace, neither.
    impostor = pod("", "shop", **{"app.kubernetes.io/name": "ingress-nginx"})
    assert not allowed(impostor, PODS["api"], API_PORT)


def test_the_ingress_controller_reaches_only_the_api_port():
    assert not allowed(INGRESS_CONTROLLER, PODS["api"], (9000, "metrics"))


@pytest.mark.parametrize("source", APP_COMPONENTS)
def test_the_app_pods_reach_redis_and_postgresql(source):
    assert allowed(PODS[source], PODS["cache"], (6379, "redis"))
    assert allowed(PODS[source], DATABASE, (5432, "postgresql"))
    assert allowed(PODS[source], None, (5432, "postgresql")), "a managed database outside the cluster"
    assert allowed(PODS[source], DNS, (53, "dns"), "UDP")


@pytest.mark.parametrize("target", ["cache", "database"])
def test_nothing_else_reaches_redis_or_postgresql(target):
    destination = DATABASE if target == "database" else PODS["cache"]
    port = (5432, "postgresql") if target == "database" else (6379, "redis")
    assert not allowed(INGRESS_CONTROLLER, destination, port)
    assert not allowed(OTHER_NAMESPACE_POD, destination, port)
    assert not allowed(pod("", NAMESPACE, app="debug-shell"), destination, port)
    # Redis itself connects nowhere (no egress rule selects it).
    assert not allowed(PODS["cache"], DATABASE, (5432, "postgresql"))


def test_the_app_pods_make_no_other_connections():
    assert not allowed(PODS["api"], None, (443, "https"))
    assert not allowed(PODS["api"], OTHER_NAMESPACE_POD, (8080, "http"))


def test_redis_asks_for_the_password_of_the_sealed_secret():
    redis = k8s_one("Deployment", "blogapi-redis")["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item for item in redis["env"]}
    secret_name = k8s_one("SealedSecret")["spec"]["template"]["metadata"]["name"]
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": secret_name,
        "key": "REDIS_PASSWORD",
    }
    args = redis["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    # redis-cli in the readiness probe authenticates with it too.
    assert env["REDISCLI_AUTH"]["value"] == "$(REDIS_PASSWORD)"
    assert redis["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]


def test_the_app_reads_the_cache_url_with_that_password_from_the_sealed_secret():
    encrypted = k8s_one("SealedSecret")["spec"]["encryptedData"]
    assert {"CACHE_URL", "REDIS_PASSWORD"} <= encrypted.keys()
    assert "CACHE_URL" not in k8s_one("ConfigMap")["data"]
