"""Local container images: the services' code at one moment, addressed by digest, in the local ECR.

Without a Docker engine the data plane runs a task's container as processes of the repository's
virtualenv; what an image fixes is the *code* they run and the image's configuration (entry
point, command, environment, user, working directory, labels), taken from the service's
Dockerfile. An image is built from a source tree (the working tree by default, or a changed
copy: a different release), stored under ``.state/images/<digest>/``, and pushed to the
emulator's ECR with an OCI manifest whose sha256 is its digest, as ECR computes it. The task
definitions then name it by digest, exactly as on AWS, and the agent resolves the digest back to
this directory.

    python -m localcloud.images push --endpoint http://127.0.0.1:5000 --env local --tag bootstrap
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import shutil
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from localcloud.state import REGION, ROOT, state_root

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class ImageSpec:
    """What an image is built from: a Dockerfile and the Python packages it ships (name -> the
    package's directory), both relative to the source tree."""

    dockerfile: Path
    packages: dict[str, Path]


_WEB = ("loopin_web", Path("services/web/loopin_web"))
_WORKER = ("loopin_worker", Path("services/worker/src/loopin_worker"))
# The worker shares the web's models, as its Dockerfile installs both packages.
SERVICES = {
    "web": ImageSpec(Path("services/web/Dockerfile"), dict([_WEB])),
    "worker": ImageSpec(Path("services/worker/Dockerfile"), dict([_WEB, _WORKER])),
}
# The label naming the environment variable an image reads its listening port from; the agent
# sets it to the task's own loopback port (every task shares 127.0.0.1 here).
PORT_VARIABLE_LABEL = "org.loopin.port-variable"
REFERENCE = re.compile(
    r"^(?P<registry>[^/]+)/(?P<repository>[^@:]+)(?::(?P<tag>[\w][\w.-]*))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class LocalImage:
    digest: str
    path: Path

    @property
    def config(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text())["config"]

    @property
    def manifest(self) -> str:
        return (self.path / "manifest.json").read_text()

    @property
    def python_path(self) -> Path:
        return self.path / "rootfs" / "python"

    @property
    def port_variable(self) -> str | None:
        return (self.config.get("Labels") or {}).get(PORT_VARIABLE_LABEL)


def store() -> Path:
    return state_root() / "images"


def _files(source: Path, packages: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    for name, directory in sorted(packages.items()):
        base = source / directory
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield f"python/{name}/{path.relative_to(base).as_posix()}", path


def _layer(source: Path, packages: dict[str, Path]) -> bytes:
    """A reproducible tar of the packages: same code, same bytes, same digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in _files(source, packages):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), 0o644, 0, 0, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _image_config(dockerfile: Path) -> dict[str, Any]:
    parsed = DockerfileParser(path=str(dockerfile))
    config: dict[str, Any] = {
        "Env": dict(parsed.envs),
        "Labels": dict(parsed.labels),
        "User": "",
        "WorkingDir": "/",
        "Entrypoint": None,
        "Cmd": None,
        "ExposedPorts": [],
    }
    final_stage = max(i for i, item in enumerate(parsed.structure) if item["instruction"] == "FROM")
    for item in parsed.structure[final_stage:]:
        instruction, value = item["instruction"], item["value"]
        if instruction == "USER":
            config["User"] = value
        elif instruction == "WORKDIR":
            config["WorkingDir"] = value
        elif instruction in ("ENTRYPOINT", "CMD"):
            config["Entrypoint" if instruction == "ENTRYPOINT" else "Cmd"] = json.loads(value)
        elif instruction == "EXPOSE":
            config["ExposedPorts"] += value.split()
    return config


def build(service: str | ImageSpec, source: Path = ROOT) -> LocalImage:
    """Build a service's image (or any spec's) from the source tree `source` (a checkout)."""
    spec = SERVICES[service] if isinstance(service, str) else service
    layer = _layer(source, spec.packages)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": _image_config(source / spec.dockerfile),
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": CONFIG_TYPE,
            "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
            "size": len(config_bytes),
        },
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": len(layer)}],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    target = store() / digest.split(":", 1)[1]
    if not (target / "manifest.json").exists():
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            tar.extractall(staging / "rootfs", filter="data")
        (staging / "config.json").write_bytes(config_bytes)
        (staging / "manifest.json").write_bytes(manifest_bytes)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return LocalImage(digest, target)


class TagTaken(Exception):
    """The repository's tags are immutable and the tag names another image."""


def push(image: LocalImage, ecr: Any, repository: str, tag: str | None = None) -> str:
    """Put the image's manifest in the (emulated) ECR repository; return `registry/repo@digest`.

    Pushing the same image again is a no-op; a tag that already names another image raises
    TagTaken (the repositories' tags are immutable). Only the calls `docker push` makes
    (PutImage, BatchGetImage), so the pipeline's deploy role can push as it does on AWS."""
    params: dict[str, Any] = {
        "repositoryName": repository,
        "imageManifest": image.manifest,
        "imageManifestMediaType": MANIFEST_TYPE,
        "imageDigest": image.digest,
    }
    if tag:
        params["imageTag"] = tag
    try:
        registry_id = ecr.put_image(**params)["image"]["registryId"]
    except (ecr.exceptions.ImageAlreadyExistsException, ecr.exceptions.ImageTagAlreadyExistsException) as exc:
        if tag:
            current = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])["images"]
            if current and current[0]["imageId"]["imageDigest"] != image.digest:
                named = current[0]["imageId"]["imageDigest"]
                raise TagTaken(f"{repository}:{tag} already names {named}") from exc
        found = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": image.digest}])
        registry_id = found["images"][0]["registryId"]
    return f"{registry_id}.dkr.ecr.{ecr.meta.region_name}.amazonaws.com/{repository}@{image.digest}"


def resolve(reference: str, ecr: Any) -> LocalImage:
    """The local image a task definition's `image` names, pulled as ECS pulls it.

    Raises LookupError with the message ECS would give (CannotPullContainerError)."""
    match = REFERENCE.match(reference)
    if not match:
        raise LookupError(f"CannotPullContainerError: invalid reference format: {reference}")
    repository = match["repository"]
    image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"] or "latest"}
    try:
        found = ecr.batch_get_image(repositoryName=repository, imageIds=[image_id])
    except ecr.exceptions.RepositoryNotFoundException as exc:
        raise LookupError(f"CannotPullContainerError: {reference}: repository not found") from exc
    if not found.get("images"):
        raise LookupError(f"CannotPullContainerError: {reference}: not found")
    digest = found["images"][0]["imageId"]["imageDigest"]
    local = LocalImage(digest, store() / digest.split(":", 1)[1])
    if not (local.path / "manifest.json").exists():
        raise LookupError(f"CannotPullContainerError: {reference}: no local image with digest {digest}")
    return local


def main(argv: list[str] | None = None) -> int:
    import boto3

    from localcloud.state import LocalCloudState

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["push"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--env", default="local")
    parser.add_argument("--project", default="loopin")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--service", choices=[*SERVICES, "all"], default="all")
    parser.add_argument(
        "--source", type=Path, default=ROOT, help="source tree to build from (default: this checkout)"
    )
    args = parser.parse_args(argv)
    keys = LocalCloudState(args.endpoint).credentials("operator") or {
        "AccessKeyId": "testing",
        "SecretAccessKey": "testing",
    }
    ecr = boto3.client(
        "ecr",
        endpoint_url=args.endpoint,
        region_name=REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
    )
    for service in SERVICES if args.service == "all" else [args.service]:
        image = build(service, args.source)
        uri = push(image, ecr, f"{args.project}/{args.env}/{service}", args.tag)
        print(f"{service}_image={uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
