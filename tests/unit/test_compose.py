"""The compose stack, read statically: docker-compose.yml, the Dockerfile and the files they mount agree.

No Docker engine is needed. The helpers at the top parse the compose file (short and long syntax),
the Dockerfile (stages, instructions), .dockerignore and the Prometheus configuration, so that a new
check (a Grafana datasource URL against the Prometheus service, say) is a few lines using them.
Every test collects all of its problems and fails with one line per problem.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import re
import shutil
import subprocess
from pathlib import PurePosixPath

import pytest
import yaml

from tests.support.compose import (
    COMPILERS,
    DASHBOARDS_DIR,
    DEMO,
    GRAFANA,
    KAFKA,
    LOOPBACK,
    MAILPIT,
    PROMETHEUS,
    ROOT,
    SECRET_NAME,
    TOPICS,
    WORKER,
    as_argv,
    build_spec,
    compose,
    container_ports,
    copy_sources,
    depends_on,
    dockerfile_stages,
    dockerignore_patterns,
    environment,
    fail_on,
    final_stage,
    grafana_dashboard_providers,
    grafana_datasources,
    grafana_provisioning_dir,
    healthcheck_argv,
    http_urls,
    image_pinning_problem,
    is_dockerignored,
    kafka_env,
    listeners,
    mount_source,
    mounts,
    option,
    ports,
    prometheus_config,
    prometheus_config_path,
    prometheus_datasource,
    scrape_interval,
    scrape_targets,
    service,
    services,
    worker_config,
    worker_config_path,
    worker_dockerfile,
)
from tests.support.prometheus import prometheus_rule_files, seconds


def test_compose_file_has_no_version_key():
    assert "version" not in compose(), "docker-compose.yml: drop the obsolete top-level version: key"


def test_build_contexts_exist_and_contain_their_dockerfile():
    problems = []
    for name, svc in services().items():
        spec = build_spec(svc)
        if spec is None:
            continue
        context, dockerfile = spec
        if not context.is_dir():
            problems.append(f"{name}: build context {context} is not a directory")
        elif not dockerfile.is_file():
            problems.append(f"{name}: build context {context} has no {dockerfile.name}")
    fail_on(problems, "build contexts")


def test_bind_mounted_host_paths_exist():
    problems = [
        f"{name}: bind mount {mount.source} -> {mount.target}: {mount.host_path} does not exist"
        for name, svc in services().items()
        for mount in mounts(svc)
        if mount.type == "bind" and not mount.host_path.exists()
    ]
    fail_on(problems, "bind mounts")


def test_images_are_pinned():
    problems = []
    for name, svc in services().items():
        if "image" not in svc and "build" not in svc:
            problems.append(f"{name}: neither image: nor build:")
        elif "image" in svc and (problem := image_pinning_problem(svc["image"])):
            problems.append(f"{name}: {problem}; pin a version tag or a digest")
    fail_on(problems, "images")


def test_named_volumes_are_declared():
    declared = set(compose().get("volumes") or {})
    problems = [
        f"{name}: volume {mount.source!r} is not declared under the top-level volumes:"
        for name, svc in services().items()
        for mount in mounts(svc)
        if mount.type == "volume" and mount.source and mount.source not in declared
    ]
    fail_on(problems, "named volumes")


def test_depends_on_names_existing_services():
    problems = [
        f"{name}: depends_on {dep!r}, which is not a service"
        for name, svc in services().items()
        for dep in depends_on(svc)
        if dep not in services()
    ]
    fail_on(problems, "depends_on")


def test_service_healthy_dependencies_have_a_healthcheck():
    problems = []
    for name, svc in services().items():
        for dep, condition in depends_on(svc).items():
            if condition != "service_healthy" or dep not in services():
                continue
            target = services()[dep]
            spec = build_spec(target)
            in_image = spec is not None and any(s.all("HEALTHCHECK") for s in dockerfile_stages(spec[1])[-1:])
            if not target.get("healthcheck") and not in_image:
                problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
    fail_on(problems, "depends_on conditions")


def test_no_secret_values_in_compose_environment():
    problems = [
        f"{name}: environment {key} has a literal value; use ${{{key}}} from the shell or an untracked .env"
        for name, svc in services().items()
        for key, value in environment(svc).items()
        if SECRET_NAME.search(key) and value and not value.startswith("${")
    ]
    fail_on(problems, "secrets")


# ================================================================ worker, its configuration and its metrics


def test_worker_config_loads():
    config = worker_config()  # raises ConfigError naming the file and key
    assert config.kafka.servers, f"{worker_config_path()}: kafka.bootstrap_servers is empty"


def test_worker_metrics_listen_on_all_interfaces():
    host = worker_config().metrics.host
    assert host in ("0.0.0.0", "::"), (
        f"{worker_config_path()}: metrics.host is {host!r}; in a container it must be 0.0.0.0, "
        "or nothing outside the container (Prometheus, the published port) can reach /metrics"
    )


def test_worker_metrics_port_is_published_and_scraped():
    port, problems = worker_config().metrics.port, []
    if port not in container_ports(service(WORKER)):
        problems.append(f"worker: metrics.port {port} of {worker_config_path().name} is not among its "
                        f"container ports {sorted(container_ports(service(WORKER)))}")
    if not any(t.host == WORKER and t.port == port for t in scrape_targets()):
        problems.append(f"{prometheus_config_path().name}: no target {WORKER}:{port} "
                        f"(targets: {[f'{t.host}:{t.port}' for t in scrape_targets()]})")
    fail_on(problems, "worker metrics port")


def test_prometheus_targets_are_compose_services_on_their_container_ports():
    problems = []
    for target in scrape_targets():
        name = PROMETHEUS if target.host in LOOPBACK else target.host
        if name not in services():
            problems.append(f"job {target.job}: target host {target.host!r} is not a compose service")
        elif target.port not in container_ports(services()[name]):
            problems.append(f"job {target.job}: {target.host}:{target.port}, but {name} listens on "
                            f"{sorted(container_ports(services()[name]))}")
    fail_on(problems, "scrape targets")


def test_worker_healthchecks_probe_the_metrics_server():
    port, problems = worker_config().metrics.port, []
    probes = {
        "docker-compose.yml worker healthcheck": " ".join(healthcheck_argv(service(WORKER))),
        "Dockerfile HEALTHCHECK": " ".join(i.args for i in final_stage().all("HEALTHCHECK")),
    }
    for where, text in probes.items():
        urls = http_urls(text)
        if not urls:
            problems.append(f"{where}: no http URL to probe")
        for url in urls:
            if url.port != port or url.path != "/healthz":
                problems.append(f"{where}: probes {url.geturl()}, expected port {port} and path /healthz")
    fail_on(problems, "worker healthchecks")


# ================================================================ kafka


def test_kafka_bootstrap_names_the_kafka_service_and_a_declared_listener():
    declared = listeners(kafka_env().get("KAFKA_LISTENERS"))
    advertised = listeners(kafka_env().get("KAFKA_ADVERTISED_LISTENERS"))
    problems = []
    for server in worker_config().kafka.servers:
        host, _, port = server.rpartition(":")
        names = [name for name, (_, p) in declared.items() if p == int(port)]
        if host != KAFKA:
            problems.append(f"bootstrap {server}: host should be the compose service {KAFKA!r}")
        elif not names:
            problems.append(f"bootstrap {server}: kafka declares no listener on {port} ({declared})")
        elif advertised.get(names[0]) != (KAFKA, int(port)):
            problems.append(f"bootstrap {server}: listener {names[0]} is advertised as {advertised.get(names[0])}, "
                            f"so clients in the compose network are sent elsewhere")
    fail_on(problems, f"kafka bootstrap in {worker_config_path().name}")


def test_kafka_advertised_listeners_are_declared_and_reachable():
    env = kafka_env()
    declared, advertised = listeners(env.get("KAFKA_LISTENERS")), listeners(env.get("KAFKA_ADVERTISED_LISTENERS"))
    controllers = set(filter(None, (env.get("KAFKA_CONTROLLER_LISTENER_NAMES") or "").split(",")))
    published = {p.target: p.published for p in ports(service(KAFKA))}
    problems = []
    for name, (host, port) in advertised.items():
        if name in controllers:
            problems.append(f"controller listener {name} must not be advertised")
        if name not in declared:
            problems.append(f"advertised listener {name} is not in KAFKA_LISTENERS")
        elif host in LOOPBACK and published.get(declared[name][1]) != port:
            problems.append(f"{name} is advertised as {host}:{port} for the host, but container port "
                            f"{declared[name][1]} is not published as {port}")
    fail_on(problems, "kafka listeners")


def test_kafka_controller_quorum_matches_node_and_controller_listener():
    env = kafka_env()
    declared = listeners(env.get("KAFKA_LISTENERS"))
    controllers = set(filter(None, (env.get("KAFKA_CONTROLLER_LISTENER_NAMES") or "").split(",")))
    problems = []
    for voter in filter(None, (env.get("KAFKA_CONTROLLER_QUORUM_VOTERS") or "").split(",")):
        node, _, address = voter.partition("@")
        host, _, port = address.rpartition(":")
        if node != env.get("KAFKA_NODE_ID"):
            problems.append(f"voter {voter}: node id {node} is not KAFKA_NODE_ID {env.get('KAFKA_NODE_ID')}")
        if not any(declared.get(name, ("", -1))[1] == int(port) for name in controllers):
            problems.append(f"voter {voter}: port {port} is no controller listener's ({controllers}, {declared})")
    if not env.get("KAFKA_CONTROLLER_QUORUM_VOTERS"):
        problems.append("KAFKA_CONTROLLER_QUORUM_VOTERS is not set")
    fail_on(problems, "kafka KRaft quorum")


def test_kafka_cluster_id_is_a_valid_kraft_id():
    cluster_id = kafka_env().get("CLUSTER_ID")
    if cluster_id is None:
        pytest.skip("CLUSTER_ID not set; the apache/kafka image uses its built-in default")
    try:
        raw = base64.urlsafe_b64decode(cluster_id + "==")
    except (binascii.Error, ValueError):
        raw = b""
    assert len(cluster_id) == 22 and len(raw) == 16, (
        f"CLUSTER_ID {cluster_id!r} is not a base64url UUID (22 characters, as kafka-storage.sh random-uuid prints)"
    )


# ================================================================ Dockerfile and build context


def test_dockerfile_base_images_are_pinned():
    stages = dockerfile_stages(worker_dockerfile()[1])
    names = {stage.name for stage in stages if stage.name}
    problems = [f"FROM {stage.base}: {problem}" for stage in stages
                if stage.base not in names and (problem := image_pinning_problem(stage.base))]
    fail_on(problems, "Dockerfile base images")


def test_dockerfile_final_stage_runs_as_non_root():
    users = final_stage().all("USER")
    assert users, "Dockerfile: the final stage has no USER, so it runs as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), f"Dockerfile line {users[-1].line}: USER {users[-1].args} is root"


def test_dockerfile_final_stage_has_no_compilers():
    problems = [f"Dockerfile line {run.line}: installs {COMPILERS.search(run.args)[0]} in the final stage"
                for run in final_stage().all("RUN") if "install" in run.args and COMPILERS.search(run.args)]
    fail_on(problems, "final stage")


def test_dockerfile_exposes_metrics_port():
    exposed = {int(word.split("/")[0]) for i in final_stage().all("EXPOSE") for word in i.args.split()}
    port = worker_config().metrics.port
    assert port in exposed, f"Dockerfile: EXPOSE {sorted(exposed)} lacks metrics.port {port}"


def test_dockerfile_copy_sources_exist_and_are_not_dockerignored():
    context, dockerfile = worker_dockerfile()
    patterns, problems = dockerignore_patterns(context), []
    for stage in dockerfile_stages(dockerfile):
        for instruction in stage.all("COPY") + stage.all("ADD"):
            for source in copy_sources(instruction):
                matches = sorted(context.glob(source.lstrip("/"))) if source not in (".", "./") else [context]
                files = [p for m in matches for p in ([m] if m.is_file() else m.rglob("*")) if p.is_file()]
                kept = [p for p in files if not is_dockerignored(p.relative_to(context).as_posix(), patterns)]
                if not matches:
                    problems.append(f"line {instruction.line}: COPY {source}: not in the build context")
                elif not kept:
                    problems.append(f"line {instruction.line}: COPY {source}: excluded by .dockerignore")
    fail_on(problems, "Dockerfile COPY sources")


@pytest.mark.parametrize("path", [".venv/bin/python", ".git/HEAD", ".pytest_cache/README.md",
                                  "src/driftline/__pycache__/cli.cpython-311.pyc", "tests/unit/test_compose.py"])
def test_dockerignore_keeps_local_state_out_of_the_build_context(path):
    context, _ = worker_dockerfile()
    assert is_dockerignored(path, dockerignore_patterns(context)), f".dockerignore lets {path} into the image"


# ================================================================ prometheus


def test_prometheus_rule_files_are_mounted_from_the_repo():
    problems = []
    for pattern in prometheus_config().get("rule_files") or []:
        directory = str(PurePosixPath(pattern).parent)
        host = mount_source(service(PROMETHEUS), directory)
        if host is None:
            problems.append(f"rule_files {pattern}: nothing is mounted at {directory} in the prometheus service")
        elif not host.is_dir():
            problems.append(f"rule_files {pattern}: mounted from {host}, which is not a directory")
    fail_on(problems, f"{prometheus_config_path().name} rule files")


def test_promtool_check_config(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not on PATH (Debian: apt-get install prometheus)")
    config = dict(prometheus_config())
    # Check the rule files the repo ships (where the container sees them), not whatever this host has.
    config["rule_files"] = [str(mount_source(service(PROMETHEUS), pattern) or pattern)
                            for pattern in config.get("rule_files") or []]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"promtool check config {prometheus_config_path()}:\n{result.stdout}{result.stderr}"


def test_worker_alert_rules_are_mounted_from_the_repo():
    config = worker_config()
    problems = []
    for what, path in (("alerting.rules", config.alerting.rules), ("alerting.routing", config.alerting.routing)):
        source = mount_source(service(WORKER), path)
        if source is None or not source.exists():
            problems.append(f"{what} {path} is not mounted from an existing path of the repo")
    fail_on(problems, "worker alert rules")


def test_prometheus_rule_files_pattern_loads_the_rules_and_not_their_unit_tests():
    problems = []
    for pattern in prometheus_config().get("rule_files") or []:
        host = mount_source(service(PROMETHEUS), pattern)
        if host is None:
            continue  # test_prometheus_rule_files_are_mounted_from_the_repo says so
        loaded = sorted(host.parent.glob(host.name))
        if loaded != prometheus_rule_files():
            problems.append(f"rule_files {pattern} loads {[p.name for p in loaded]}, the rules are "
                            f"{[p.name for p in prometheus_rule_files()]}")
        problems.extend(f"rule_files {pattern} loads the promtool test {p}" for p in loaded if "tests" in p.parts)
    fail_on(problems, "Prometheus rule files")


# ================================================================ grafana


def test_grafana_anonymous_access_is_off():
    env = environment(service(GRAFANA))
    assert env.get("GF_AUTH_ANONYMOUS_ENABLED") == "false", (
        "grafana: set GF_AUTH_ANONYMOUS_ENABLED: \"false\" explicitly; anonymous viewers are opt-in")
    assert env.get("GF_USERS_ALLOW_SIGN_UP") in (None, "false"), "grafana: self sign-up must stay off"


def test_grafana_provisioning_is_mounted_from_the_repo():
    provisioning = grafana_provisioning_dir()
    problems = [f"{provisioning / kind} is missing" for kind in ("datasources", "dashboards")
                if not (provisioning / kind).is_dir()]
    if provisioning.resolve() != (ROOT / "grafana" / "provisioning").resolve():
        problems.append(f"grafana mounts its provisioning from {provisioning}, not grafana/provisioning")
    fail_on(problems, "grafana provisioning")


def test_grafana_datasource_is_the_prometheus_service_with_a_fixed_uid():
    source, problems = prometheus_datasource(), []
    url = http_urls(str(source.get("url")))
    if not source.get("uid"):
        problems.append("the Prometheus data source has no fixed uid (the dashboards' $datasource defaults to it)")
    if not url:
        problems.append(f"data source url {source.get('url')!r} is not an http URL")
    elif url[0].hostname != PROMETHEUS or url[0].port not in container_ports(service(PROMETHEUS)):
        problems.append(f"data source url {source['url']}: expected the service {PROMETHEUS!r} on one of its "
                        f"container ports {sorted(container_ports(service(PROMETHEUS)))}")
    if source.get("access", "proxy") != "proxy":
        problems.append("the data source must be accessed by Grafana's server (access: proxy): the browser "
                        "cannot resolve the compose service name")
    uids = [ds.get("uid") for ds in grafana_datasources()]
    if len(uids) != len(set(uids)):
        problems.append(f"data source uids repeat: {uids}")
    fail_on(problems, "grafana data source")


def test_grafana_datasource_time_interval_is_the_driftline_scrape_interval():
    interval = (prometheus_datasource().get("jsonData") or {}).get("timeInterval")
    expected = scrape_interval("driftline")
    assert interval is not None and seconds(interval) == seconds(expected), (
        f"the data source's timeInterval is {interval!r}, the driftline job scrapes every {expected}: "
        "Grafana's $__rate_interval (4 x timeInterval) must cover several scrapes")


def test_grafana_dashboard_providers_read_the_mounted_dashboards():
    providers, problems = grafana_dashboard_providers(), []
    if not providers:
        problems.append("no dashboard provider in grafana/provisioning/dashboards/")
    for provider in providers:
        path = (provider.get("options") or {}).get("path")
        host = mount_source(service(GRAFANA), path) if path else None
        if provider.get("type", "file") != "file" or host is None:
            problems.append(f"provider {provider.get('name')}: path {path} is not mounted into the grafana service")
        elif host.resolve() != DASHBOARDS_DIR.resolve() or not list(host.glob("*.json")):
            problems.append(f"provider {provider.get('name')}: {path} is {host}, not grafana/dashboards with its JSON")
    home = environment(service(GRAFANA)).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home is not None and not ((source := mount_source(service(GRAFANA), home)) and source.is_file()):
        problems.append(f"the home dashboard {home} is not a mounted file of the repo")
    fail_on(problems, "grafana dashboard providers")


# ================================================================ all services


def test_stateful_services_keep_their_data_in_named_volumes():
    data = {KAFKA: kafka_env().get("KAFKA_LOG_DIRS") or "/var/lib/kafka/data", GRAFANA: "/var/lib/grafana",
            PROMETHEUS: "/prometheus"}
    problems = [f"{name}: {path} is not a named volume, so its data is lost with the container"
                for name, path in data.items()
                if not any(m.type == "volume" and m.source and m.target == path for m in mounts(service(name)))]
    fail_on(problems, "volumes")


def test_every_long_running_service_has_a_healthcheck():
    problems = []
    for name, svc in services().items():
        if svc.get("profiles") or svc.get("restart") == "no":
            continue  # one-shot helpers (the demo producer)
        spec = build_spec(svc)
        in_image = spec is not None and any(s.all("HEALTHCHECK") for s in dockerfile_stages(spec[1])[-1:])
        if not svc.get("healthcheck") and not in_image:
            problems.append(f"{name} has no healthcheck")
    fail_on(problems, "healthchecks")


def test_published_ports_are_on_loopback_and_distinct():
    problems, seen = [], {}
    for name, svc in services().items():
        for entry in svc.get("ports") or []:
            host_ip = entry.get("host_ip") if isinstance(entry, dict) else (
                str(entry).rsplit(":", 2)[0] if str(entry).count(":") == 2 else None)
            if host_ip not in LOOPBACK:
                problems.append(f"{name}: port {entry} is published on every interface; use 127.0.0.1:...")
        for port in ports(svc):
            if port.published is not None and port.published in seen:
                problems.append(f"{name} and {seen[port.published]} both publish host port {port.published}")
            seen[port.published] = name
    fail_on(problems, "published ports")


def test_input_topics_are_created_before_the_workers_start_with_the_configured_partitions():
    kafka = worker_config().kafka
    svc = service(TOPICS)
    text = " ".join(as_argv(svc.get("entrypoint")) + as_argv(svc.get("command")))
    problems = []
    for kind in ("predictions", "features", "labels"):
        if f"{kafka.topic_prefix}.{kind}" not in text:
            problems.append(f"{TOPICS} does not create {kafka.topic_prefix}.{kind}")
    for flag, expected in (("--partitions", kafka.partitions), ("--replication-factor", kafka.replication_factor)):
        found = set(re.findall(rf"{flag}\s+(\d+)", text))
        if found != {str(expected)}:
            problems.append(f"{TOPICS}: {flag} {sorted(found)}, the workers' configuration says {expected}")
    servers = set(re.findall(r"--bootstrap-server\s+(\S+)", text))
    if not servers or not servers <= set(kafka.servers):
        problems.append(f"{TOPICS}: --bootstrap-server {sorted(servers)} is not the workers' {kafka.servers}")
    if depends_on(svc).get(KAFKA) != "service_healthy":
        problems.append(f"{TOPICS} must wait for a healthy {KAFKA}")
    if depends_on(service(WORKER)).get(TOPICS) != "service_completed_successfully":
        problems.append(f"the worker must wait for {TOPICS} to complete successfully")
    if svc.get("image") != service(KAFKA).get("image"):
        problems.append(f"{TOPICS} should use the broker's image {service(KAFKA).get('image')} (its kafka-topics.sh)")
    fail_on(problems, "input topics")


# ================================================================ mailpit and the worker's alert routing


def test_worker_alerts_go_by_email_to_mailpit():
    routing_path = mount_source(service(WORKER), worker_config().alerting.routing)
    assert routing_path is not None and routing_path.is_file(), "the worker's routing file is not mounted"
    routing = yaml.safe_load(routing_path.read_text(encoding="utf-8"))
    problems = []
    for receiver in routing.get("receivers") or []:
        settings = receiver.get("settings") or {}
        if receiver.get("type") != "email":
            problems.append(f"receiver {receiver.get('name')}: {receiver.get('type')} needs an account; "
                            "the stack sends email to Mailpit")
        elif settings.get("host") != MAILPIT or settings.get("port") not in container_ports(service(MAILPIT)):
            problems.append(f"receiver {receiver.get('name')}: {settings.get('host')}:{settings.get('port')} is not "
                            f"the {MAILPIT} service on one of {sorted(container_ports(service(MAILPIT)))}")
        elif settings.get("starttls") is not False or settings.get("password"):
            problems.append(f"receiver {receiver.get('name')}: Mailpit takes plain SMTP without a login here")
    if not routing.get("receivers"):
        problems.append(f"{routing_path.name} has no receivers")
    fail_on(problems, f"alert routing {routing_path.name}")


# ================================================================ the demo producer profile


def test_demo_producer_feeds_the_workers_topics_through_kafka():
    demo = service(DEMO)
    entry, argv = as_argv(demo.get("entrypoint")), as_argv(demo.get("command"))
    problems = []
    if demo.get("profiles") != ["demo"]:
        problems.append(f"profiles {demo.get('profiles')}: the demo must be opt-in (profiles: [demo])")
    scripts = [arg for arg in entry if arg.endswith(".py")]
    source = mount_source(demo, scripts[0]) if scripts else None
    if source is None or not source.is_file():
        problems.append(f"entrypoint {entry}: the script is not a mounted file of the repository")
    else:
        spec = importlib.util.spec_from_file_location("demo_producer", source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        try:
            module.parse_args(argv)
        except SystemExit:
            problems.append(f"command {argv}: {source.name} does not take these options")
    if option(argv, "--topic-prefix") != worker_config().kafka.topic_prefix:
        problems.append(f"--topic-prefix {option(argv, '--topic-prefix')} is not the workers' "
                        f"{worker_config().kafka.topic_prefix}")
    if option(argv, "--bootstrap") not in worker_config().kafka.servers:
        problems.append(f"--bootstrap {option(argv, '--bootstrap')} is not the workers' {worker_config().kafka.servers}")
    if depends_on(demo).get(WORKER) != "service_healthy":
        problems.append("the demo must wait for a healthy worker (which creates the topics)")
    fail_on(problems, "demo producer")
