#!/usr/bin/env python3
"""lint_deploy.py - structural checks for what cannot run here (no Docker
daemon, no cluster, no OpenTelemetry Collector): the Dockerfile, the compose
file, the Kubernetes manifests, the collector configs of deploy/scale-out and
the dashboard's aggregation over replicas. Prints problems and exits 1 when there are any.
  lint_deploy.py dockerfile FILE | compose FILE | k8s DIR | otelcol FILE |
                 dashboard-replicas FILE
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
problems = []


def dockerfile(path):
    text = open(path).read()
    lines = [l for l in re.sub(r"\\\n", " ", text).split("\n") if l.strip() and not l.lstrip().startswith("#")]
    instr = [l.split()[0].upper() for l in lines]
    if not instr or instr[0] not in ("FROM", "ARG"):
        problems.append("first instruction must be FROM")
    known = {"FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "EXPOSE", "VOLUME",
             "ENTRYPOINT", "CMD", "HEALTHCHECK", "LABEL", "STOPSIGNAL", "SHELL", "ONBUILD"}
    problems.extend(f"unknown instruction {i}" for i in instr if i not in known)
    users = [l.split()[1] for l in lines if l.split()[0].upper() == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage must run as a non-root USER")
    for l in lines:
        words = l.split()
        if words[0].upper() == "RUN" and "apt-get install" in l:
            if "--no-install-recommends" not in l:
                problems.append("apt-get install without --no-install-recommends")
            if "rm -rf /var/lib/apt/lists" not in l:
                problems.append("apt lists not removed in the same RUN")
        if words[0].upper() == "ADD" and re.search(r"https?://", l):
            problems.append("ADD from a URL")
        if words[0].upper() == "COPY" and not any(w.startswith("--from") for w in words):
            for src in words[1:-1]:
                if not os.path.exists(os.path.join(ROOT, src)):
                    problems.append(f"COPY source {src} missing from the build context")
    for kw in ("ENTRYPOINT", "CMD"):
        for l in lines:
            if l.split()[0].upper() == kw and not l.split(None, 1)[1].startswith("["):
                problems.append(f"{kw} not in exec form")
    exposed = " ".join(l for l in lines if l.split()[0].upper() == "EXPOSE")
    for port in ("4318", "9464"):
        if port not in exposed:
            problems.append(f"port {port} not exposed")


def compose(path):
    import yaml
    base = os.path.dirname(os.path.abspath(path))
    doc = yaml.safe_load(open(path))
    services = doc.get("services", {})
    for want in ("agentmeter", "prometheus", "grafana"):
        if want not in services:
            problems.append(f"service {want} missing")
    named = set((doc.get("volumes") or {}).keys())
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            problems.append(f"{name}: neither image nor build")
        build = svc.get("build")
        if isinstance(build, dict):
            ctx = os.path.join(base, build.get("context", "."))
            if not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))):
                problems.append(f"{name}: dockerfile not found in its context")
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith(".") and not os.path.exists(os.path.join(base, src)):
                problems.append(f"{name}: volume source {src} missing")
            elif not src.startswith((".", "/")) and src not in named:
                problems.append(f"{name}: named volume {src} not declared")
        for dep in svc.get("depends_on", []):
            if dep not in services:
                problems.append(f"{name}: depends_on unknown service {dep}")
    graf = services.get("grafana", {})
    mounts = " ".join(graf.get("volumes", []))
    if "provisioning" not in mounts or "dashboards" not in mounts:
        problems.append("grafana: provisioning and dashboards not mounted")


def k8s(directory):
    import yaml
    docs = []
    for f in sorted(os.listdir(directory)):
        if f.endswith(".yaml") and f != "kustomization.yaml":
            for d in yaml.safe_load_all(open(os.path.join(directory, f))):
                if d:
                    docs.append((f, d))
    kinds = {d["kind"] for _, d in docs}
    for want in ("Service", "ConfigMap", "ServiceMonitor", "PodDisruptionBudget"):
        if want not in kinds:
            problems.append(f"no {want}")
    if not kinds & {"Deployment", "StatefulSet"}:
        problems.append("no Deployment or StatefulSet")
    for f, d in docs:
        for key in ("apiVersion", "kind", "metadata"):
            if key not in d:
                problems.append(f"{f}: {key} missing")
        if not d.get("metadata", {}).get("name"):
            problems.append(f"{f}: metadata.name missing")
    kust = yaml.safe_load(open(os.path.join(directory, "kustomization.yaml")))
    listed = set(kust.get("resources", []))
    present = {f for f in os.listdir(directory) if f.endswith(".yaml") and f != "kustomization.yaml"}
    if listed != present:
        problems.append(f"kustomization resources {sorted(listed)} != files {sorted(present)}")
    workloads = [d for _, d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    cms = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "ConfigMap"}
    all_labels, all_ports = [], set()
    for w in workloads:
        name = f"{w['kind']} {w['metadata']['name']}"
        sel = w["spec"]["selector"]["matchLabels"]
        tmpl = w["spec"]["template"]
        labels = tmpl["metadata"]["labels"]
        all_labels.append(labels)
        if any(labels.get(k) != v for k, v in sel.items()):
            problems.append(f"{name}: selector does not match its template labels")
        ports = {p["name"] for c in tmpl["spec"]["containers"] for p in c.get("ports", [])}
        all_ports |= ports
        for c in tmpl["spec"]["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if port is None:
                    problems.append(f"{c['name']}: {probe} missing")
                elif isinstance(port, str) and port not in ports:
                    problems.append(f"{c['name']}: {probe} names unknown port {port}")
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{c['name']}: allowPrivilegeEscalation not false")
            vols = {v["name"] for v in tmpl["spec"].get("volumes", [])}
            vols |= {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
            for m in c.get("volumeMounts", []):
                if m["name"] not in vols:
                    problems.append(f"{c['name']}: volumeMount {m['name']} has no volume")
        for v in tmpl["spec"].get("volumes", []):
            if "configMap" in v and v["configMap"]["name"] not in cms:
                problems.append(f"volume {v['name']}: unknown ConfigMap")
        if w["kind"] == "StatefulSet":
            gov = [d for _, d in docs if d["kind"] == "Service" and d["metadata"]["name"] == w["spec"].get("serviceName")]
            if not gov or gov[0]["spec"].get("clusterIP") != "None":
                problems.append(f"{name}: serviceName is not a headless Service here")
    for _, d in docs:
        if d["kind"] in ("Service", "PodDisruptionBudget"):
            s = d["spec"]["selector"]
            s = s.get("matchLabels", s)
            if not any(all(lab.get(k) == v for k, v in s.items()) for lab in all_labels):
                problems.append(f"{d['kind']} {d['metadata']['name']} selects no pod")
        if d["kind"] == "Service":
            for p in d["spec"]["ports"]:
                if isinstance(p.get("targetPort"), str) and p["targetPort"] not in all_ports:
                    problems.append(f"Service port {p['name']}: unknown targetPort")
        if d["kind"] == "ServiceMonitor":
            svc_ports = {p["name"] for _, s in docs if s["kind"] == "Service" for p in s["spec"]["ports"]}
            for e in d["spec"]["endpoints"]:
                if e.get("port") not in svc_ports:
                    problems.append(f"ServiceMonitor endpoint port {e.get('port')} not on a Service")
    # A collector config embedded in a ConfigMap is checked like the files,
    # and must be the shipped file it names verbatim.
    for name, cm in cms.items():
        text = cm.get("data", {}).get("config.yaml")
        if text is None:
            continue
        otelcol_config(yaml.safe_load(text), f"ConfigMap {name}")
        m = re.search(r"(deploy/scale-out/otelcol/[\w.-]+\.yaml) verbatim", open(os.path.join(directory, "otelcol.yaml")).read()) if os.path.exists(os.path.join(directory, "otelcol.yaml")) else None
        if m and yaml.safe_load(text) != yaml.safe_load(open(os.path.join(ROOT, m.group(1)))):
            problems.append(f"ConfigMap {name} differs from {m.group(1)}")


ROUTING_KEYS = {"traceID", "service", "attributes", "resource", "metric", "streamID"}


def otelcol_config(c, where):
    """An OpenTelemetry Collector config: every pipeline component defined,
    a loadbalancing exporter with one resolver and a known routing key."""
    for section in ("receivers", "exporters", "service"):
        if section not in c:
            problems.append(f"{where}: no {section}")
            return
    pipes = c["service"].get("pipelines", {})
    if "traces" not in pipes:
        problems.append(f"{where}: no traces pipeline")
    for pname, pipe in pipes.items():
        for section in ("receivers", "processors", "exporters"):
            for comp in pipe.get(section, []):
                if comp not in (c.get(section) or {}):
                    problems.append(f"{where}: pipeline {pname} uses undefined {section[:-1]} {comp}")
    for ext in c["service"].get("extensions", []):
        if ext not in (c.get("extensions") or {}):
            problems.append(f"{where}: undefined extension {ext}")
    for name, exp in c["exporters"].items():
        if name.split("/")[0] == "loadbalancing":
            res = exp.get("resolver", {})
            kinds = [k for k in ("static", "dns", "k8s", "aws_cloud_map") if k in res]
            if len(kinds) != 1:
                problems.append(f"{where}: {name} needs exactly one resolver, has {kinds}")
            key = exp.get("routing_key", "traceID")
            if key not in ROUTING_KEYS:
                problems.append(f"{where}: {name} routing_key {key} unknown")
            if key == "attributes" and not exp.get("routing_attributes"):
                problems.append(f"{where}: {name} routing_key attributes without routing_attributes")
            if "endpoint" in exp.get("protocol", {}).get("otlp", {}):
                problems.append(f"{where}: {name} protocol.otlp.endpoint is set by the resolver")
            for h in res.get("static", {}).get("hostnames", []):
                if not re.fullmatch(r"[\w.-]+:\d+", h):
                    problems.append(f"{where}: static hostname {h} needs host:port")
            if "k8s" in res and not re.fullmatch(r"[\w-]+\.[\w-]+", res["k8s"].get("service", "")):
                problems.append(f"{where}: k8s resolver service must be NAME.NAMESPACE")
        elif name.split("/")[0] == "otlp" and not exp.get("endpoint"):
            problems.append(f"{where}: {name} has no endpoint")


def otelcol(path):
    import yaml
    otelcol_config(yaml.safe_load(open(path)), path)


def dashboard_replicas(path):
    """Every panel over agent families aggregates replica and instance away,
    so one replica or many show the same lines."""
    import json
    d = json.load(open(path))

    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    for p in walk(d.get("panels", [])):
        for t in p.get("targets", []):
            e = t.get("expr", "")
            if not re.search(r"\b(agent|model|gen_ai)_\w+", e):
                continue
            if not re.match(r"\s*(sum|avg|max|min|count|topk|histogram_quantile)\b", e):
                problems.append(f"panel {p.get('title')}: does not aggregate: {e}")
            for by in re.findall(r"\bby\s*\(([^)]*)\)", e):
                if {"replica", "instance", "pod"} & {x.strip() for x in by.split(",")}:
                    problems.append(f"panel {p.get('title')}: keeps a replica label: by ({by})")


kind, target = sys.argv[1], sys.argv[2]
{"dockerfile": dockerfile, "compose": compose, "k8s": k8s, "otelcol": otelcol,
 "dashboard-replicas": dashboard_replicas}[kind](target)
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
