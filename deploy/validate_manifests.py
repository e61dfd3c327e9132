"""Validate rendered Kubernetes manifests without a cluster.

    kubectl kustomize deploy/k8s | python deploy/validate_manifests.py -

Built-in kinds go through kubernetes-validate in strict mode (unknown fields are errors). That
tool only warns about kinds it has no schema for, which would let a misspelt kind or apiVersion
pass; here a missing schema is an error, except for the SealedSecret custom resource, which is
checked against deploy/schemas/ instead.
"""

import argparse
import json
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"
CUSTOM_KINDS = {("bitnami.com/v1alpha1", "SealedSecret"): SCHEMAS / "sealedsecret-bitnami-v1alpha1.json"}
PLACEHOLDER = "PLACEHOLDER-generate-with-kubeseal"


def problems_of(resource: dict, versions: list[str]) -> list[str]:
    """Every validation failure of one resource, empty when it is valid."""
    key = (resource.get("apiVersion"), resource.get("kind"))
    if key in CUSTOM_KINDS:
        schema = json.loads(CUSTOM_KINDS[key].read_text())
        validator = jsonschema.Draft202012Validator(schema)
        return [
            f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(resource)
        ]
    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"k8s {version}: {'.'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"k8s {version}: {error.message}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", help="a multi-document YAML file, or - for standard input")
    parser.add_argument(
        "-k",
        "--kubernetes-version",
        action="append",
        dest="versions",
        help="Kubernetes version to validate against (repeatable; default: the newest known)",
    )
    args = parser.parse_args()
    stream = sys.stdin if args.manifests == "-" else open(args.manifests)  # noqa: SIM115
    with stream:
        resources = [doc for doc in yaml.safe_load_all(stream) if doc]
    versions = args.versions or [kubernetes_validate.latest_version()]

    failed = False
    for resource in resources:
        name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
        problems = problems_of(resource, versions)
        for problem in problems:
            print(f"ERROR {name}: {problem}")
        failed |= bool(problems)
        if not problems:
            print(f"ok    {name}")
        if resource.get("kind") == "SealedSecret":
            unsealed = sorted(
                key
                for key, value in resource.get("spec", {}).get("encryptedData", {}).items()
                if value == PLACEHOLDER
            )
            if unsealed:
                print(f"note  {name}: placeholders, seal real values before applying: {', '.join(unsealed)}")
    if not resources:
        print("ERROR no resources in the input")
        failed = True
    verdict = "FAILED" if failed else "all valid"
    print(f"{len(resources)} resources, {verdict} (Kubernetes {', '.join(versions)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
