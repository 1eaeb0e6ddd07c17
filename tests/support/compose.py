"""Static readers of the compose stack: docker-compose.yml, the Dockerfile, the configs they mount.

Used by tests/unit/test_compose.py and tests/unit/test_dashboards.py (Grafana's provisioning and
dashboards are configs the stack mounts too), and by tests/support/prometheus.py.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from driftline.config import Config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

WORKER = "worker"
KAFKA = "kafka"
PROMETHEUS = "prometheus"
GRAFANA = "grafana"
MAILPIT = "mailpit"
DEMO = "demo"
TOPICS = "topics"
PROMETHEUS_CONFIG_TARGET = "/etc/prometheus/prometheus.yml"  # the image's default --config.file
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|ROUTING_KEY|API_KEY|WEBHOOK)", re.IGNORECASE)
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|cargo|rustc)\b")


# ---------------------------------------------------------------- compose


@functools.cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose().get("services") or {}


def service(name: str) -> dict[str, Any]:
    assert name in services(), f"docker-compose.yml has no service {name!r} (has {sorted(services())})"
    return services()[name]


def build_spec(svc: dict[str, Any]) -> tuple[Path, Path] | None:
    """(context, Dockerfile) of a service that is built, else None."""
    build = svc.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        build = {"context": build}
    context = (ROOT / build.get("context", ".")).resolve()
    return context, context / build.get("dockerfile", "Dockerfile")


@dataclass(frozen=True)
class Mount:
    type: str  # "bind" or "volume" (or tmpfs, ...)
    source: str | None
    target: str
    read_only: bool = False

    @property
    def host_path(self) -> Path:
        assert self.type == "bind" and self.source is not None
        return (ROOT / self.source).resolve() if not self.source.startswith("/") else Path(self.source)


def mounts(svc: dict[str, Any]) -> list[Mount]:
    """The service's volumes, short (``./x:/y:ro``, ``name:/y``) or long syntax."""
    found = []
    for entry in svc.get("volumes") or []:
        if isinstance(entry, dict):
            read_only = bool(entry.get("read_only", False))
            found.append(Mount(entry.get("type", "volume"), entry.get("source"), entry["target"], read_only))
            continue
        parts = entry.split(":")
        if len(parts) == 1:  # an anonymous volume
            found.append(Mount("volume", None, parts[0]))
            continue
        source, target, mode = parts[0], parts[1], parts[2] if len(parts) > 2 else ""
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        found.append(Mount(kind, source, target, "ro" in mode.split(",")))
    return found


def mount_source(svc: dict[str, Any], container_path: str) -> Path | None:
    """The host path that a bind mount puts at ``container_path`` (a file or anything below a dir)."""
    wanted = PurePosixPath(container_path)
    for mount in mounts(svc):
        target = PurePosixPath(mount.target)
        if mount.type == "bind" and (wanted == target or target in wanted.parents):
            return mount.host_path.joinpath(*wanted.relative_to(target).parts)
    return None


@dataclass(frozen=True)
class Port:
    target: int  # the container's port
    published: int | None  # the host's port, if published
    protocol: str = "tcp"


def ports(svc: dict[str, Any]) -> list[Port]:
    """Published ports, short (``[ip:]host:container[/proto]``, ``container``) or long syntax."""
    found = []
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            found.append(Port(int(entry["target"]), int(published) if published else None,
                              entry.get("protocol", "tcp")))
            continue
        spec, _, protocol = str(entry).partition("/")
        parts = spec.rsplit(":", 2)
        # a published range (9464-9467:9464, for scaled services) publishes its first port for the first container
        published = int(parts[-2].split("-")[0]) if len(parts) >= 2 and parts[-2] else None
        found.append(Port(int(parts[-1]), published, protocol or "tcp"))
    return found


def container_ports(svc: dict[str, Any]) -> set[int]:
    """Ports the service listens on as far as compose knows: published targets and ``expose``."""
    exposed = {int(str(p).partition("/")[0]) for p in svc.get("expose") or []}
    return {p.target for p in ports(svc)} | exposed


def environment(svc: dict[str, Any]) -> dict[str, str | None]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict((item.split("=", 1) + [None])[:2] for item in env)  # type: ignore[misc]
    return {key: None if value is None else str(value) for key, value in env.items()}


def depends_on(svc: dict[str, Any]) -> dict[str, str]:
    """Service name -> condition (``service_started`` for the list form)."""
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def as_argv(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def option(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``argv``."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def healthcheck_argv(svc: dict[str, Any]) -> list[str]:
    test = (svc.get("healthcheck") or {}).get("test")
    argv = as_argv(test)
    return argv[1:] if argv and argv[0] in ("CMD", "CMD-SHELL") else argv


def http_urls(text: str) -> list[Any]:
    return [urlsplit(url) for url in re.findall(r"https?://[^\s'\"]+", text)]


def image_pinning_problem(ref: str) -> str | None:
    """Why an image reference is not pinned, or None if it has a digest or a tag other than latest."""
    if "@sha256:" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"{ref!r} has no tag"
    if last.rsplit(":", 1)[1] == "latest":
        return f"{ref!r} is tagged latest"
    return None


# ---------------------------------------------------------------- worker configuration


def worker_config_path() -> Path:
    """The host file mounted where the worker's ``--config`` points."""
    argv = as_argv(service(WORKER).get("command"))
    container_path = option(argv, "--config")
    assert container_path, f"worker command {argv} has no --config"
    host_path = mount_source(service(WORKER), container_path)
    assert host_path is not None, f"worker reads --config {container_path}, but no bind mount puts a file there"
    return host_path


@functools.cache
def worker_config() -> Config:
    return Config.load(worker_config_path())


# ---------------------------------------------------------------- kafka listeners


def listeners(value: str | None) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> {NAME: (host, port)}."""
    found = {}
    for item in filter(None, (part.strip() for part in (value or "").split(","))):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        found[name] = (host.strip("[]"), int(port))
    return found


def kafka_env() -> dict[str, str | None]:
    return environment(service(KAFKA))


# ---------------------------------------------------------------- prometheus


@dataclass(frozen=True)
class Target:
    job: str
    host: str
    port: int
    scrape_interval: str | None = None  # the job's own, else None (the global one applies)


def prometheus_config_path() -> Path:
    path = mount_source(service(PROMETHEUS), PROMETHEUS_CONFIG_TARGET)
    assert path is not None, f"the prometheus service mounts nothing at {PROMETHEUS_CONFIG_TARGET}"
    return path


@functools.cache
def prometheus_config() -> dict[str, Any]:
    return yaml.safe_load(prometheus_config_path().read_text(encoding="utf-8")) or {}


def scrape_targets(config: dict[str, Any] | None = None) -> list[Target]:
    """Static targets and DNS service discovery names (a compose service name resolves to its containers)."""
    found = []
    for job in (config or prometheus_config()).get("scrape_configs") or []:
        interval = job.get("scrape_interval")
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = target.rpartition(":")
                found.append(Target(job["job_name"], host, int(port), interval))
        for sd in job.get("dns_sd_configs") or []:
            for name in sd.get("names") or []:
                found.append(Target(job["job_name"], name, int(sd["port"]), interval))
    return found


def scrape_interval(job_name: str, config: dict[str, Any] | None = None) -> str:
    """The scrape interval of a job: its own, else the global one, else Prometheus' default (1m)."""
    config = config or prometheus_config()
    for job in config.get("scrape_configs") or []:
        if job["job_name"] == job_name:
            return job.get("scrape_interval") or (config.get("global") or {}).get("scrape_interval") or "1m"
    raise AssertionError(f"{prometheus_config_path().name} has no scrape job {job_name!r}")


# ---------------------------------------------------------------- Dockerfile and .dockerignore


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and parser directives dropped."""
    found, pending, start = [], "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        start = start or number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        found.append(Instruction(keyword.upper(), args.strip(), start))
        pending, start = "", 0
    return found


def dockerfile_stages(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in dockerfile_instructions(path):
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def exec_form(args: str) -> list[str]:
    """``["a", "b"]`` (exec form) or shell form, as an argv."""
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError:
        return shlex.split(args)
    return [str(arg) for arg in parsed] if isinstance(parsed, list) else shlex.split(args)


def copy_sources(instruction: Instruction) -> list[str]:
    """Sources of a COPY/ADD from the build context ([] for ``--from``)."""
    words = exec_form(instruction.args) if instruction.args.startswith("[") else instruction.args.split()
    if any(w.startswith("--from") for w in words):
        return []
    words = [w for w in words if not w.startswith("--")]
    return words[:-1]


def dockerignore_patterns(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def is_dockerignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides; ``!`` re-includes."""
    parts = PurePosixPath(relative).parts
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        cleaned = str(PurePosixPath(pattern.lstrip("!").lstrip("/")))
        regex = _pattern_regex(cleaned)
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def worker_dockerfile() -> tuple[Path, Path]:
    spec = build_spec(service(WORKER))
    assert spec is not None, "the worker service has no build:"
    return spec


def final_stage() -> Stage:
    stages = dockerfile_stages(worker_dockerfile()[1])
    assert stages, "the Dockerfile has no FROM"
    return stages[-1]


def fail_on(problems: list[str], what: str) -> None:
    assert not problems, f"{what}:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------- grafana: provisioning and dashboards

GRAFANA_PROVISIONING_TARGET = "/etc/grafana/provisioning"  # the image's default paths.provisioning
DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"


def grafana_provisioning_dir() -> Path:
    path = mount_source(service(GRAFANA), GRAFANA_PROVISIONING_TARGET)
    assert path is not None, f"the grafana service mounts nothing at {GRAFANA_PROVISIONING_TARGET}"
    return path


def _provisioning(kind: str, key: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted((grafana_provisioning_dir() / kind).glob("*.y*ml")):
        found.extend((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(key) or [])
    return found


def grafana_datasources() -> list[dict[str, Any]]:
    """The provisioned data sources (grafana/provisioning/datasources/*.yml)."""
    return _provisioning("datasources", "datasources")


def grafana_dashboard_providers() -> list[dict[str, Any]]:
    """The provisioned dashboard providers (grafana/provisioning/dashboards/*.yml)."""
    return _provisioning("dashboards", "providers")


def prometheus_datasource() -> dict[str, Any]:
    found = [ds for ds in grafana_datasources() if ds.get("type") == "prometheus"]
    assert len(found) == 1, f"expected one provisioned Prometheus data source, found {len(found)}"
    return found[0]


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


@functools.cache
def _dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard of grafana/dashboards/, by file name."""
    return {path.name: _dashboard(path) for path in dashboard_files()}


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that show data (rows, collapsed or not, are flattened away)."""
    found = []
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            found.extend(panel.get("panels") or [])
        else:
            found.append(panel)
    return found


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in (dashboard.get("templating") or {}).get("list") or []}


def variable_query(var: dict[str, Any]) -> str:
    """The query a query variable runs: ``query`` (a string, or the query editor's object), else ``definition``."""
    query = var.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    return str(query or var.get("definition") or "")


def _ref_override(panel: dict[str, Any], ref_id: str, prop: str) -> Any:
    for override in (panel.get("fieldConfig") or {}).get("overrides") or []:
        matcher = override.get("matcher") or {}
        if matcher.get("id") == "byFrameRefID" and matcher.get("options") == ref_id:
            for item in override.get("properties") or []:
                if item.get("id") == prop:
                    return item.get("value")
    return None


def field_option(panel: dict[str, Any], ref_id: str, prop: str) -> Any:
    """A field option (``unit``, ``thresholds``, ...) as it applies to the query ``ref_id``: its override, else the default."""
    value = _ref_override(panel, ref_id, prop)
    if value is None:
        value = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get(prop)
    return value


def threshold_steps(thresholds: dict[str, Any] | None) -> list[tuple[float | None, str]]:
    """[(value, color)] of a thresholds config; the base step has value None."""
    return [(step.get("value"), step.get("color")) for step in (thresholds or {}).get("steps") or []]


# ================================================================ compose file
