#!/usr/bin/python3
"""The Kubernetes manifests against the binaries and against each other.

Usage: k8s-manifests.py [--expect-fail FINDINGS] [--renderer auto|kubectl|python]
                        [--crosscheck] BINDIR SETUP_SCRIPT DIR:EXAMPLE[,EXAMPLE...] ...

Renders each kustomization DIR (`kubectl kustomize` when kubectl is installed, else the small
renderer below: resources, namespace, images, JSON 6902 and strategic-merge patches) and
checks it, with the Secrets and ConfigMaps its EXAMPLE files describe (secrets.example.yaml:
made with kubectl, never in a kustomization):

- every daemon BINDIR holds (ovop-*) runs in one Deployment or StatefulSet (a second only
  for the dashboard, below); a Deployment has a
  HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation, 2 replicas at least) and names no
  replicas itself; the broker is a StatefulSet of 2 or more behind its headless Service, with
  no autoscaler, and OVOP_BROKER of every daemon lists each of its pods; a PodDisruptionBudget
  per daemon;
- the operators' dashboard (a daemon with --dashboard-listen set: ovop-webd; sign-ins live in
  one instance's memory): only in the pods labelled component dashboard, of ONE Deployment
  with replicas 1, strategy Recreate, no autoscaler and no PodDisruptionBudget (a daemon may
  have this second workload); its port never open to every source and its Services never
  NodePort or LoadBalancer;
- NetworkPolicy: a default deny; DNS, PostgreSQL and (daemons) the brokers reachable; ingress
  open to every source only on the broker's MDP port, notifyd's stream port and the public
  port (--public-listen) of a component=web pod; the ops port only from a named (monitoring)
  namespace; egress open to every address only for DNS, PostgreSQL and notifyd's HTTPS with
  the private ranges excepted; every selector selects;
- a daemon without a database (its --help lists no OVOP_DATABASE_URL: ovop-webd) gets no
  database variable (OVOP_DATABASE_*, PG*), no pgpass file and no egress to PostgreSQL; the
  component label web (whose pods may take readiness from /healthz and open their public
  port) is for such daemons only;
- every container: requests and limits (CPU and memory, request <= limit), non-root,
  read-only root file system, no privilege escalation, every capability dropped;
- ovop containers: each --flag and each OVOP_* variable (env and ConfigMaps) in the binary's
  --help; probes /healthz (startup, liveness) and /readyz (readiness; component web: /healthz
  and dashboard: /healthz
  too) on the --http/OVOP_HTTP port, reachable (not loopback), also the prometheus.io/port;
  the startup probe outlasts OVOP_SCHEMA_WAIT_MS; terminationGracePeriodSeconds outlasts
  OVOP_DRAIN_MS by 5 s;
- keys and passwords: every Secret and ConfigMap a pod names exists (rendered or in an
  example) with the keys it names; each file an OVOP_* or PG* variable points at is one the
  pod's volumes provide; PGUSER is the role of the pod's pgpass; ovop-setup (the migrate Job)
  gets pg-password.ROLE, svc-SERVICE.key and admin.key of the roles and services its script
  lists; no password or secret key in a ConfigMap or a literal env value;
- workload selectors match their pod labels, Services select pods and name their ports; one
  image (with a tag) for every ovop container.

Prints one finding per line, "Kind/name: CODE: message", and exits 1 when there is any. With
--expect-fail FINDINGS (the deliberately broken fixture tests/lint/bad/k8s-bad), exits 0 only
when every line of FINDINGS is part of some finding, and prints the ones missing otherwise.
--crosscheck renders with both kubectl and the renderer below and fails when they differ.
"""
import argparse
import copy
import ipaddress
import os
import re
import shutil
import subprocess
import sys

import yaml

# Variables a manifest may set before any binary reads them (a feature landing in two steps).
# Accepted until a binary lists one; then the entry is stale and reported, so that it goes.
PENDING = set()

# The ranges a webhook must not reach (notifyd refuses them itself; the policy too).
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8"]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet")
CLUSTER_SCOPED = ("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition")
HELP_OPT = re.compile(r"^  --([a-z0-9-]+)")
HELP_ENV = re.compile(r"^\s+\[(OVOP_[A-Z0-9_]+); default: (.*?)(?:; -?\d+\.\.-?\d+)?\]$")
PGPASS_LINE = re.compile(r"^[^:\s]+:[^:\s]+:[^:\s]+:([^:\s]+):\S+$", re.M)


# ---------------------------------------------------------------------------------- render


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def smp(base, patch):
    """Strategic merge as kustomize does it for core lists: maps merge, lists of maps that
    all have a name merge by name, other lists are replaced; "$patch: delete" removes."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if isinstance(v, dict) and v.get("$patch") == "delete":
                out.pop(k, None)
            elif k in out:
                out[k] = smp(out[k], v)
            else:
                out[k] = v
        return out
    if (isinstance(base, list) and isinstance(patch, list) and base and patch
            and all(isinstance(x, dict) and "name" in x for x in base + patch)):
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            idx = [i for i, x in enumerate(out) if x["name"] == item["name"]]
            if item.get("$patch") == "delete":
                out = [x for x in out if x["name"] != item["name"]]
            elif idx:
                out[idx[0]] = smp(out[idx[0]], item)
            else:
                out.append(item)
        return out
    return copy.deepcopy(patch)


def json6902(doc, ops):
    """RFC 6902 add, replace and remove (what the overlays use); anything else is refused."""
    for op in ops:
        if op["op"] not in ("add", "replace", "remove"):
            raise ValueError(f"patch op {op['op']} not supported by this renderer")
        keys = [k.replace("~1", "/").replace("~0", "~") for k in op["path"].split("/")[1:]]
        parent = doc
        for k in keys[:-1]:
            parent = parent[int(k)] if isinstance(parent, list) else parent[k]
        last = keys[-1]
        if isinstance(parent, list):
            i = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(i, op["value"])
            elif op["op"] == "replace":
                parent[i] = op["value"]
            else:
                del parent[i]
        elif op["op"] == "remove" or (op["op"] == "replace" and last not in parent):
            if last not in parent:
                raise ValueError(f"patch {op['op']}s missing {op['path']}")
            if op["op"] == "remove":
                del parent[last]
        else:
            parent[last] = op["value"]


def targets(docs, target):
    return [d for d in docs
            if ("kind" not in target or d["kind"] == target["kind"])
            and ("name" not in target or d["metadata"]["name"] == target["name"])]


def apply_patch(docs, kdir, p):
    text = p.get("patch")
    if text is None:
        with open(os.path.join(kdir, p["path"]), encoding="utf-8") as f:
            text = f.read()
    body = yaml.safe_load(text)
    target = p.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
    hit = targets(docs, target)
    if not hit:
        raise ValueError(f"{kdir}: patch target {target} matches nothing")
    if isinstance(body, dict) and body.get("$patch") == "delete":
        docs[:] = [d for d in docs if not any(d is h for h in hit)]
        return
    for d in hit:
        if isinstance(body, list):
            json6902(d, body)
        else:
            merged = smp(d, body)
            d.clear()
            d.update(merged)


def render_python(kdir):
    with open(os.path.join(kdir, "kustomization.yaml"), encoding="utf-8") as f:
        k = yaml.safe_load(f)
    docs = []
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(kdir, r))
        docs += render_python(p) if os.path.isdir(p) else load_docs(p)
    for p in k.get("patches", []):
        apply_patch(docs, kdir, p)
    for p in k.get("patchesStrategicMerge", []):
        apply_patch(docs, kdir, {"path": p})
    if "namespace" in k:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = k["namespace"]
    for img in k.get("images", []):
        for d in docs:
            for c in containers(d):
                name, _, tag = c["image"].partition(":")
                if name == img["name"]:
                    c["image"] = img.get("newName", name) + ":" + str(img.get("newTag", tag))
    return docs


def render_kubectl(kdir):
    out = subprocess.run(["kubectl", "kustomize", kdir], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise ValueError(f"kubectl kustomize {kdir}: {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def keyed(docs):
    return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}


# ---------------------------------------------------------------------------------- model


def pod_spec(d):
    if d["kind"] in WORKLOAD_KINDS:
        return d["spec"]["template"]["spec"]
    return None


def containers(d, init=True):
    spec = pod_spec(d)
    if spec is None:
        return []
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def pod_labels(d):
    return d["spec"]["template"]["metadata"].get("labels", {})


def selects(sel, labels):
    """A LabelSelector (matchLabels, matchExpressions) against labels; {} selects all."""
    if sel is None:
        return False
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        op, key, vals = e["operator"], e["key"], e.get("values", [])
        if ((op == "In" and labels.get(key) not in vals)
                or (op == "NotIn" and labels.get(key) in vals)
                or (op == "Exists" and key not in labels)
                or (op == "DoesNotExist" and key in labels)):
            return False
    return True


def read_help(bindir, prog):
    path = os.path.join(bindir, prog)
    out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=20,
                         check=True).stdout.splitlines()
    flags, env = set(), {}
    for i, line in enumerate(out):
        m = HELP_OPT.match(line)
        if m:
            flags.add(m.group(1))
            e = HELP_ENV.match(out[i + 1]) if i + 1 < len(out) else None
            if e:
                env[e.group(1)] = e.group(2)
    return flags, env


def setup_reads(script):
    """What ovop-setup reads: its OVOP_* variables and the roles and services it lists."""
    with open(script, encoding="utf-8") as f:
        text = f.read()
    env = set(re.findall(r"\$\{(OVOP_[A-Z0-9_]+)", text))

    def array(name):
        m = re.search(rf"^{name}=\(([^)]*)\)", text, re.M)
        return m.group(1).split() if m else []
    return env, array("roles"), array("services")


def quantity(q):
    """A CPU or memory quantity as a float (cores or bytes)."""
    q = str(q)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6,
             "G": 1e9}
    for u, f in sorted(units.items(), key=lambda x: -len(x[0])):
        if q.endswith(u):
            return float(q[: -len(u)]) * f
    return float(q)


class Lint:
    def __init__(self, bindir, setup, docs, examples):
        self.bindir, self.docs, self.findings = bindir, docs, []
        self.setup_env, self.setup_roles, self.setup_services = setup_reads(setup)
        self.examples = examples
        self.helps = {}
        self.daemons = sorted(f for f in os.listdir(bindir)
                              if f.startswith("ovop-") and os.access(os.path.join(bindir, f),
                                                                     os.X_OK))
        for prog in self.daemons + ["ovopctl"]:
            self.helps[prog] = read_help(bindir, prog)
        self.configmaps = {d["metadata"]["name"]: d.get("data", {}) or {}
                           for d in docs + examples if d["kind"] == "ConfigMap"}
        self.secrets = {}
        for d in examples:
            if d["kind"] == "Secret":
                self.secrets[d["metadata"]["name"]] = set((d.get("stringData") or {}).keys()) | set(
                    (d.get("data") or {}).keys())
        self.workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
        # Pods made by an operator from a custom resource, so that policies may select them.
        self.pseudo_pods = [{"cnpg.io/cluster": d["metadata"]["name"]}
                            for d in docs if d["kind"] == "Cluster"]

    def find(self, d, code, msg):
        self.findings.append(f"{d['kind']}/{d['metadata']['name']}: {code}: {msg}")

    def of_kind(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def binary(self, c):
        """The ovop program a container runs (a daemon, ovopctl or ovop-setup), or None."""
        cmd = (c.get("command") or [""])[0]
        return cmd if cmd in self.helps or cmd == "ovop-setup" else None

    def daemon(self, c):
        """The daemon (ovop-*: serves /healthz, connects to the brokers) a container runs."""
        prog = self.binary(c)
        return prog if prog in self.daemons else None

    def dashboard_port(self, d, c):
        """The dashboard port a daemon container listens on (--dashboard-listen set), or
        None when the dashboard is off (or the daemon has none)."""
        prog = self.daemon(c)
        if prog is None or "OVOP_DASHBOARD_LISTEN" not in self.helps[prog][1]:
            return None
        val = self.option(c, self.env_of(d, c), prog, "dashboard-listen",
                          "OVOP_DASHBOARD_LISTEN") or ""
        if not val:
            return None
        port = val.rpartition(":")[2]
        return int(port) if port.isdigit() else -1

    def no_database(self, prog):
        """A daemon that never connects to PostgreSQL: its --help has no OVOP_DATABASE_URL."""
        return prog in self.daemons and "OVOP_DATABASE_URL" not in self.helps[prog][1]

    def env_of(self, d, c):
        """{name: value} a container gets: envFrom ConfigMaps, then env (literal or the
        ConfigMap key it names; None for a value from elsewhere)."""
        env = {}
        for ef in c.get("envFrom", []):
            ref = ef.get("configMapRef")
            if ref:
                if ref["name"] not in self.configmaps:
                    self.find(d, "CONFIGMAP_MISSING", f"container {c['name']} reads ConfigMap "
                              f"{ref['name']}, which no manifest or example defines")
                    continue
                env.update(self.configmaps[ref["name"]])
            if ef.get("secretRef"):
                self.secret_ref(d, ef["secretRef"]["name"], None)
        for e in c.get("env", []):
            vf = e.get("valueFrom") or {}
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "configMapKeyRef" in vf:
                ref = vf["configMapKeyRef"]
                data = self.configmaps.get(ref["name"])
                if data is None or ref["key"] not in data:
                    self.find(d, "CONFIGMAP_KEY", f"{e['name']} reads {ref['name']}/{ref['key']}, "
                              "which does not exist")
                env[e["name"]] = (data or {}).get(ref["key"])
            else:
                if "secretKeyRef" in vf:
                    self.secret_ref(d, vf["secretKeyRef"]["name"], vf["secretKeyRef"]["key"])
                env[e["name"]] = None
        return env

    def secret_ref(self, d, name, key):
        if name not in self.secrets:
            self.find(d, "SECRET_MISSING", f"names Secret {name}, which no secrets example "
                      "describes (how would an operator make it?)")
        elif key is not None and key not in self.secrets[name]:
            self.find(d, "SECRET_KEY", f"names key {key} of Secret {name}, not in its example")

    # ------------------------------------------------------------------------ per container

    def pod_files(self, d):
        """The file names the pod's Secret, ConfigMap and projected volumes provide."""
        files = set()
        for v in pod_spec(d).get("volumes", []):
            sources = []
            if "secret" in v:
                sources.append({"secret": {"name": v["secret"]["secretName"],
                                           "items": v["secret"].get("items")}})
            if "configMap" in v:
                sources.append({"configMap": v["configMap"]})
            if "projected" in v:
                sources += v["projected"].get("sources", [])
            for src in sources:
                for kind in ("secret", "configMap"):
                    if kind not in src:
                        continue
                    ref = src[kind]
                    have = (self.secrets.get(ref["name"]) if kind == "secret"
                            else set((self.configmaps.get(ref["name"]) or {}).keys()))
                    if have is None:
                        what = "Secret" if kind == "secret" else "ConfigMap"
                        code = "SECRET_MISSING" if kind == "secret" else "CONFIGMAP_MISSING"
                        self.find(d, code, f"volume {v['name']} names {what} {ref['name']}, "
                                  "which no manifest or secrets example defines")
                        continue
                    items = ref.get("items")
                    for it in items or []:
                        if it["key"] not in have:
                            self.find(d, "SECRET_KEY", f"volume {v['name']} takes key "
                                      f"{it['key']} of {ref['name']}, which it does not hold")
                    files |= {it["path"] for it in items} if items else have
        return files

    def check_container(self, d, c, files):
        prog = self.binary(c)
        env = self.env_of(d, c)
        for name, value in env.items():
            if value is not None and secret_like(name, value):
                self.find(d, "ENV_SECRET", f"{c['name']}: {name} holds a secret in plain text; "
                          "a Secret's file is the place")
        if prog is None:
            return env
        if prog == "ovop-setup":
            known = set(self.setup_env) | set(self.helps["ovopctl"][1])
            flags = set()
        else:
            flags, known = self.helps[prog][0], set(self.helps[prog][1])
        for a in c.get("args", []):
            m = re.match(r"^--([a-z0-9-]+)", a)
            if m and m.group(1) not in flags:
                self.find(d, "UNKNOWN_FLAG", f"{c['name']}: {prog} --help has no --{m.group(1)}")
        for name in env:
            if not name.startswith("OVOP_") or name in known:
                continue
            if name in PENDING:
                continue
            self.find(d, "UNKNOWN_ENV", f"{c['name']}: {prog} does not read {name} (not in "
                      "its --help)")
        for name, value in env.items():
            if value and value.startswith("/") and (name.startswith(("OVOP_", "PG"))):
                mounted = [m for m in c.get("volumeMounts", [])
                           if value.startswith(m["mountPath"].rstrip("/") + "/")]
                if mounted and os.path.basename(value) not in files:
                    self.find(d, "SECRET_FILE", f"{c['name']}: {name}={value}, a file none of "
                              "the pod's Secrets or ConfigMaps provides")
        return env

    def option(self, c, env, prog, flag, var):
        """The value a process gets: --flag wins over the variable, the variable over the
        default of its --help."""
        for a in c.get("args", []):
            if a.startswith(f"--{flag}="):
                return a.split("=", 1)[1]
        if var in env and env[var] is not None:
            return env[var]
        return self.helps.get(prog, (None, {}))[1].get(var)

    def check_ovop_container(self, d, c, env):
        prog = self.daemon(c)
        if prog is None:
            return
        http = self.option(c, env, prog, "http", "OVOP_HTTP") or ""
        host, _, port = http.rpartition(":")
        if not port.isdigit() or port == "0":
            self.find(d, "HTTP_PORT", f"{c['name']}: --http={http}: a probe needs a fixed port")
            return
        if host.startswith("127.") or host in ("localhost", "[::1]"):
            self.find(d, "HTTP_HOST", f"{c['name']}: --http={http} is loopback: the kubelet's "
                      "probes and Prometheus cannot reach it")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        want = {"startupProbe": "/healthz", "livenessProbe": "/healthz",
                "readinessProbe": "/readyz"}
        # The public pages (component web) keep serving their cache while no broker answers,
        # which is when /readyz turns 503: ready on /healthz keeps them in their Service.
        web = pod_labels(d).get("app.kubernetes.io/component") in ("web", "dashboard")
        for probe, path in want.items():
            pr = (c.get(probe) or {}).get("httpGet")
            if not pr:
                self.find(d, "PROBES", f"{c['name']}: no {probe} on {path}")
                continue
            if pr.get("path") != path and not (
                    web and probe == "readinessProbe" and pr.get("path") == "/healthz"):
                self.find(d, "PROBES", f"{c['name']}: {probe} asks {pr.get('path')}, not {path}")
            pp = ports.get(pr["port"]) if isinstance(pr["port"], str) else pr["port"]
            if str(pp) != port:
                self.find(d, "PROBE_PORT", f"{c['name']}: {probe} port {pr['port']} is not the "
                          f"--http port {port}")
        ann = d["spec"]["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/port") not in (None, port):
            self.find(d, "SCRAPE_PORT", f"prometheus.io/port {ann['prometheus.io/port']} is not "
                      f"the --http port {port}")
        st = c.get("startupProbe") or {}
        window = st.get("periodSeconds", 10) * st.get("failureThreshold", 3)
        wait = self.option(c, env, prog, "schema-wait-ms", "OVOP_SCHEMA_WAIT_MS") or "30000"
        if st and window * 1000 <= int(wait):
            self.find(d, "STARTUP_PROBE", f"{c['name']}: the startup probe gives up after "
                      f"{window} s, before the database wait of {wait} ms")
        drain = int(self.option(c, env, prog, "drain-ms", "OVOP_DRAIN_MS") or 0)
        grace = pod_spec(d).get("terminationGracePeriodSeconds", 30)
        if grace * 1000 < drain + 5000:
            self.find(d, "GRACE", f"terminationGracePeriodSeconds {grace} leaves no 5 s after "
                      f"the drain of {drain} ms: SIGKILL cuts requests in flight")

    def check_pgpass(self, d, c, env):
        """PGUSER is the role of the pgpass the pod gets (its Secret's example)."""
        user = env.get("PGUSER")
        if not user or self.binary(c) is None:
            return
        roles = set()
        for v in pod_spec(d).get("volumes", []):
            for src in (v.get("projected") or {}).get("sources", []) + (
                    [{"secret": {"name": v["secret"]["secretName"]}}] if "secret" in v else []):
                name = (src.get("secret") or {}).get("name")
                for ex in self.examples:
                    if ex["kind"] == "Secret" and ex["metadata"]["name"] == name:
                        text = (ex.get("stringData") or {}).get("pgpass", "")
                        roles |= set(PGPASS_LINE.findall(text))
        if roles and user not in roles:
            self.find(d, "PGUSER_PGPASS", f"{c['name']}: PGUSER {user}, but the pod's pgpass is "
                      f"for {', '.join(sorted(roles))}")

    def check_no_database(self, d, c, env, files):
        """A daemon without a database is given none of its means: a variable would sit
        unused (or be read by a library: libpq reads PG*), a pgpass is a password for
        nothing; the component web is such a daemon's only."""
        prog = self.daemon(c)
        if prog is None:
            return
        if not self.no_database(prog):
            comp = pod_labels(d).get("app.kubernetes.io/component")
            if comp in ("web", "dashboard"):
                self.find(d, "COMPONENT_WEB", f"{c['name']}: {prog} has a database; component "
                          f"{comp} (readiness on /healthz) is for webd's public pages and "
                          "dashboard")
            return
        for name in sorted(env):
            if name.startswith(("OVOP_DATABASE", "PG")):
                self.find(d, "NO_DATABASE", f"{c['name']}: {name}: {prog} has no database "
                          "(no OVOP_DATABASE_URL in its --help)")
        for f in sorted(files):
            if "pgpass" in f or f.startswith("pg-password."):
                self.find(d, "NO_DATABASE", f"{c['name']}: its volumes provide {f}: {prog} has "
                          "no database password")

    def check_setup_files(self, d, files):
        need = {f"pg-password.{r}" for r in self.setup_roles}
        need |= {f"svc-{s}.key" for s in self.setup_services} | {"admin.key", "pgpass"}
        for f in sorted(need - files):
            self.find(d, "SETUP_FILE", f"ovop-setup reads {f}, which the pod's volumes lack")

    def check_security(self, d):
        spec = pod_spec(d)
        psc = spec.get("securityContext") or {}
        if not psc.get("runAsNonRoot"):
            self.find(d, "SECURITY", "pod securityContext without runAsNonRoot: true")
        for c in containers(d):
            sc = c.get("securityContext") or {}
            drop = (sc.get("capabilities") or {}).get("drop") or []
            if (sc.get("allowPrivilegeEscalation") is not False
                    or sc.get("readOnlyRootFilesystem") is not True or "ALL" not in drop):
                self.find(d, "SECURITY", f"{c['name']}: needs allowPrivilegeEscalation: false, "
                          "readOnlyRootFilesystem: true, capabilities.drop [ALL]")
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            missing = [f"{w}.{r}" for w, m in (("requests", req), ("limits", lim))
                       for r in ("cpu", "memory") if r not in m]
            if missing:
                self.find(d, "RESOURCES", f"{c['name']}: no {', '.join(missing)}")
            for r in ("cpu", "memory"):
                if r in req and r in lim and quantity(req[r]) > quantity(lim[r]):
                    self.find(d, "RESOURCES", f"{c['name']}: {r} request {req[r]} above its "
                              f"limit {lim[r]}")

    # ------------------------------------------------------------------------- workloads

    def daemon_workloads(self):
        """{binary: [workload]} for every ovop-* binary."""
        out = {p: [] for p in self.daemons}
        for d in self.workloads:
            for c in containers(d, init=False):
                if self.binary(c) in out:
                    out[self.binary(c)].append(d)
        return out

    def check_workloads(self):
        by = self.daemon_workloads()
        hpas = self.of_kind("HorizontalPodAutoscaler")
        pdbs = self.of_kind("PodDisruptionBudget")
        for prog, ws in sorted(by.items()):
            if not ws:
                self.findings.append(f"{prog}: DAEMON_MISSING: no Deployment or StatefulSet runs "
                                     "it")
                continue
            plain = sorted(d["metadata"]["name"] for d in ws if not is_dashboard(d))
            if len(plain) > 1:
                self.findings.append(f"{prog}: DAEMON_TWICE: workloads {', '.join(plain)} all run "
                                     "it: one scales, the second may only be the dashboard")
            for d in ws:
                sel = d["spec"].get("selector") or {}
                if not selects(sel, pod_labels(d)) or not sel:
                    self.find(d, "SELECTOR", "spec.selector does not match the pod labels")
                mine = [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] ==
                        d["metadata"]["name"] and h["spec"]["scaleTargetRef"]["kind"] == d["kind"]]
                if d["kind"] == "StatefulSet":
                    self.check_broker(d, mine)
                elif d["kind"] == "Deployment" and is_dashboard(d):
                    self.check_dashboard(d, mine)
                elif d["kind"] == "Deployment":
                    self.check_hpa(d, mine)
                covering = [p for p in pdbs if selects(p["spec"].get("selector"), pod_labels(d))]
                if is_dashboard(d):
                    if covering:
                        self.find(d, "DASHBOARD_PDB", "a PodDisruptionBudget selects the single "
                                  "dashboard pod: minAvailable 1 blocks every node drain")
                elif len(covering) != 1:
                    self.find(d, "PDB_MISSING", f"{len(covering)} PodDisruptionBudgets select its "
                              "pods, not 1")
        for h in hpas:
            ref = h["spec"]["scaleTargetRef"]
            if not any(w["kind"] == ref["kind"] and w["metadata"]["name"] == ref["name"]
                       for w in self.workloads):
                self.find(h, "HPA_TARGET", f"scales {ref['kind']}/{ref['name']}, which does not "
                          "exist")
        for p in pdbs:
            if not any(selects(p["spec"].get("selector"), pod_labels(w)) for w in self.workloads):
                self.find(p, "PDB_SELECTOR", "selects no pod")
        self.check_dashboard_placement()

    def check_dashboard_placement(self):
        """The dashboard runs in the one component=dashboard workload and nowhere else (the
        public webd Deployment keeps it off), and no Service makes it public."""
        dash = [w for w in self.workloads if is_dashboard(w)]
        if len(dash) > 1:
            self.findings.append("dashboard: DASHBOARD_TWICE: workloads " + ", ".join(sorted(
                w["metadata"]["name"] for w in dash)) + " all run the dashboard: sign-ins "
                "live in one instance's memory")
        for w in self.workloads:
            for c in containers(w, init=False):
                port = self.dashboard_port(w, c)
                if port is not None and not is_dashboard(w):
                    self.find(w, "DASHBOARD_LISTEN", f"{c['name']}: the dashboard is on (port "
                              f"{port}) outside the single dashboard Deployment (component "
                              "dashboard): each instance would hold sign-ins of its own")
                elif port is None and is_dashboard(w) and self.daemon(c):
                    self.find(w, "DASHBOARD_OFF", f"{c['name']}: component dashboard without "
                              "--dashboard-listen/OVOP_DASHBOARD_LISTEN")
        for s in self.of_kind("Service"):
            sel = {"matchLabels": s["spec"].get("selector") or {}}
            if (s["spec"].get("selector") and s["spec"].get("type") in ("NodePort", "LoadBalancer")
                    and any(selects(sel, pod_labels(w)) for w in dash)):
                self.find(s, "DASHBOARD_SERVICE_PUBLIC", f"type {s['spec']['type']} exposes the "
                          "operators' dashboard outside the cluster: ClusterIP and an internal "
                          "ingress with TLS, or kubectl port-forward")

    def check_dashboard(self, d, mine):
        """One pod, never two at once: replicas 1, Recreate, no autoscaler."""
        if mine:
            self.find(d, "DASHBOARD_HPA", "an autoscaler scales the dashboard: a second pod "
                      "would not know the first one's sign-ins")
        if d["spec"].get("replicas") != 1:
            self.find(d, "DASHBOARD_REPLICAS", f"replicas {d['spec'].get('replicas')}, not 1: "
                      "sign-ins live in one instance's memory")
        strategy = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy != "Recreate":
            self.find(d, "DASHBOARD_STRATEGY", f"strategy {strategy}, not Recreate: an update "
                      "would run two dashboards at once")

    def check_hpa(self, d, mine):
        if len(mine) != 1:
            self.find(d, "HPA_MISSING", f"{len(mine)} HorizontalPodAutoscalers scale it, not 1")
            return
        h = mine[0]
        if "replicas" in d["spec"]:
            self.find(d, "REPLICAS_WITH_HPA", "names spec.replicas although an autoscaler "
                      "scales it: each apply would reset the autoscaler's count")
        if h.get("apiVersion") != "autoscaling/v2":
            self.find(h, "HPA_METRIC", f"apiVersion {h.get('apiVersion')}, not autoscaling/v2")
        lo, hi = h["spec"].get("minReplicas", 1), h["spec"]["maxReplicas"]
        if lo < 2:
            self.find(h, "HPA_MIN", f"minReplicas {lo}: one pod is a single point of failure")
        if hi <= lo:
            self.find(h, "HPA_MAX", f"maxReplicas {hi} leaves nothing to scale above {lo}")
        cpu = [m for m in h["spec"].get("metrics", []) if m.get("type") == "Resource"
               and m["resource"]["name"] == "cpu"
               and m["resource"]["target"].get("type") == "Utilization"]
        if not cpu:
            self.find(h, "HPA_METRIC", "no CPU utilisation target")

    def check_broker(self, d, mine):
        """Fixed brokers with stable names, every one of them in each daemon's OVOP_BROKER."""
        if mine:
            self.find(d, "HPA_ON_BROKER", "an autoscaler scales the brokers: a new broker is in "
                      "nobody's OVOP_BROKER")
        n = d["spec"].get("replicas", 1)
        if n < 2:
            self.find(d, "BROKER_REPLICAS", f"{n} broker: none left while it restarts")
        svc = [s for s in self.of_kind("Service")
               if s["metadata"]["name"] == d["spec"].get("serviceName")]
        if not svc or svc[0]["spec"].get("clusterIP") != "None":
            self.find(d, "BROKER_SERVICE", f"serviceName {d['spec'].get('serviceName')} is not a "
                      "headless Service: the brokers get no stable names")
            return
        port = next(p["containerPort"] for c in containers(d, init=False)
                    for p in c.get("ports", []) if p.get("name") == "mdp")
        want = {f"tcp://{d['metadata']['name']}-{i}.{svc[0]['metadata']['name']}:{port}"
                for i in range(n)}
        for w in self.workloads:
            for c in containers(w, init=False):
                prog = self.daemon(c)
                if prog in (None, "ovop-broker"):
                    continue
                env = self.env_of(w, c)
                got = set((self.option(c, env, prog, "broker", "OVOP_BROKER") or "").split(","))
                if got != want:
                    self.find(w, "BROKER_LIST", f"{c['name']}: OVOP_BROKER {','.join(sorted(got))}"
                              f" is not the {n} brokers {','.join(sorted(want))}")

    def check_services(self):
        for s in self.of_kind("Service"):
            # A Service's selector is a plain map of labels, not a LabelSelector.
            sel = {"matchLabels": s["spec"].get("selector") or {}}
            pods = [w for w in self.workloads if selects(sel, pod_labels(w))]
            if not s["spec"].get("selector") or not pods:
                self.find(s, "SERVICE_SELECTOR", "selects no pod")
                continue
            names = {p.get("name") for w in pods for c in containers(w, init=False)
                     for p in c.get("ports", [])}
            nums = {p["containerPort"] for w in pods for c in containers(w, init=False)
                    for p in c.get("ports", [])}
            for p in s["spec"].get("ports", []):
                t = p.get("targetPort", p["port"])
                if t not in (names if isinstance(t, str) else nums):
                    self.find(s, "SERVICE_PORT", f"targetPort {t} is no port of its pods")

    def check_images(self):
        images = {}
        for d in self.workloads:
            ovop = any(self.binary(c) for c in containers(d, init=False))
            for c in containers(d):
                if ovop:
                    images.setdefault(c["image"], []).append(f"{d['metadata']['name']}/{c['name']}")
        if len(images) > 1:
            self.findings.append("images: IMAGE: ovop containers run different images: " +
                                 "; ".join(f"{i} ({', '.join(w)})" for i, w in images.items()))
        for i in images:
            if ":" not in i.rsplit("/", 1)[-1] and "@" not in i:
                self.findings.append(f"images: IMAGE: {i} has no tag (set it in "
                                     "kustomization.yaml images)")

    def check_configmaps(self):
        for d in [x for x in self.docs + self.examples if x["kind"] == "ConfigMap"]:
            for k, v in (d.get("data") or {}).items():
                if secret_like(k, str(v)):
                    self.find(d, "CONFIGMAP_SECRET", f"{k} holds a secret: a Secret is the place")

    # ------------------------------------------------------------------ network policies

    def policies(self, labels, ptype):
        """The rules of type ptype ("ingress", "egress") of the policies selecting labels."""
        rules = []
        for p in self.of_kind("NetworkPolicy"):
            types = p["spec"].get("policyTypes") or (
                ["Ingress"] + (["Egress"] if "egress" in p["spec"] else []))
            if ptype.capitalize() in types and selects(p["spec"].get("podSelector"), labels):
                rules += p["spec"].get(ptype) or []
        return rules

    def check_network(self):
        pols = self.of_kind("NetworkPolicy")
        if not any(not (p["spec"].get("podSelector") or {}).get("matchLabels")
                   and not (p["spec"].get("podSelector") or {}).get("matchExpressions")
                   and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
                   and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in pols):
            self.findings.append("NetworkPolicy: NETPOL_DEFAULT_DENY: no default deny of ingress "
                                 "and egress for every pod of the namespace")
        every = [pod_labels(w) for w in self.workloads] + self.pseudo_pods
        for p in pols:
            if not any(selects(p["spec"].get("podSelector"), lab) for lab in every):
                self.find(p, "NETPOL_SELECTS_NOTHING", "its podSelector selects no pod")
            for r in (p["spec"].get("ingress") or []) + (p["spec"].get("egress") or []):
                for peer in r.get("from", []) + r.get("to", []):
                    if ("podSelector" in peer and "namespaceSelector" not in peer
                            and not any(selects(peer["podSelector"], lab) for lab in every)):
                        self.find(p, "NETPOL_PEER_NOTHING", f"peer {peer['podSelector']} selects "
                                  "no pod")
        brokers = [w for w in self.workloads
                   if any(self.binary(c) == "ovop-broker" for c in containers(w, init=False))]
        for w in self.workloads:
            for c in containers(w, init=False):
                if self.daemon(c) or self.binary(c) == "ovop-setup":
                    self.check_pod_network(w, c, brokers)

    def rule_ports(self, rule, c):
        named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        return {named.get(p["port"], p["port"]) for p in rule.get("ports") or []}

    def check_pod_network(self, w, c, brokers):
        prog, labels = self.binary(c), pod_labels(w)
        env = self.env_of(w, c)
        named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        open_ok = {"ovop-broker": {named.get("mdp")}, "ovop-notifyd": {named.get("stream")}}
        ok = open_ok.get(prog, set())
        dash = self.dashboard_port(w, c)
        for r in self.policies(labels, "ingress") if dash is not None else []:
            if not r.get("ports") or dash in self.rule_ports(r, c):
                if any(peer_open(x) for x in r.get("from") or [{}]):
                    self.find(w, "NETPOL_DASHBOARD_OPEN", f"the dashboard port {dash} is open to "
                              "every source: only the operators' ingress namespace may reach it")
        if labels.get("app.kubernetes.io/component") == "web":
            # The public verification pages: buyers' phones, through an ingress or load
            # balancer whose source addresses a policy cannot name.
            pub = (self.option(c, env, prog, "public-listen", "OVOP_PUBLIC_LISTEN") or "")
            if pub.rpartition(":")[2].isdigit():
                ok = ok | {int(pub.rpartition(":")[2])}
        for r in self.policies(labels, "ingress"):
            ports = self.rule_ports(r, c)
            if not r.get("ports"):
                self.find(w, "NETPOL_OPEN_INGRESS", "an ingress rule allows every port")
            elif any(peer_open(x) for x in r.get("from") or [{}]) and not ports <= ok:
                self.find(w, "NETPOL_OPEN_INGRESS", f"ports {sorted(map(str, ports))} open to "
                          "every source: only the broker's MDP, notifyd's stream port and the "
                          "public pages' port may be")
        http = (self.option(c, env, prog, "http", "OVOP_HTTP") or "").rpartition(":")[2]
        if prog != "ovop-setup" and not any(
                int(http) in self.rule_ports(r, c)
                and any("namespaceSelector" in x and not peer_open(x) for x in r.get("from", []))
                for r in self.policies(labels, "ingress") if http.isdigit()):
            self.find(w, "NETPOL_METRICS", f"port {http} (/metrics) not open to a monitoring "
                      "namespace")
        egress = self.policies(labels, "egress")
        url = env.get("OVOP_DATABASE_URL") or ""
        m = re.match(r"^postgres(?:ql)?://[^/]*?:(\d+)", url)
        dbport = int(m.group(1)) if m else 5432
        if not any(53 in self.rule_ports(r, c) for r in egress):
            self.find(w, "NETPOL_DNS", "no egress to DNS (53)")
        if self.no_database(prog):
            if any(dbport in self.rule_ports(r, c) for r in egress):
                self.find(w, "NETPOL_NO_DATABASE", f"egress to PostgreSQL ({dbport}): {prog} "
                          "has no database")
        elif not any(dbport in self.rule_ports(r, c) for r in egress):
            self.find(w, "NETPOL_DATABASE", f"no egress to PostgreSQL ({dbport})")
        if prog not in ("ovop-broker", "ovop-setup"):
            for b in brokers:
                mdp = next((p["containerPort"] for bc in containers(b, init=False)
                            for p in bc.get("ports", []) if p.get("name") == "mdp"), 5555)
                if not any(mdp in self.rule_ports(r, c) and any(
                        "podSelector" in x and selects(x["podSelector"], pod_labels(b))
                        for x in r.get("to", [])) for r in egress):
                    self.find(w, "NETPOL_BROKER", f"no egress to the brokers' port {mdp}")
        for r in egress:
            self.check_open_egress(w, prog, r, self.rule_ports(r, c), dbport)

    def check_open_egress(self, w, prog, r, ports, dbport):
        peers = r.get("to") or [{}]
        if not any(peer_open(x) for x in peers):
            return
        if not r.get("ports"):
            self.find(w, "NETPOL_EGRESS_OPEN", "an egress rule to every address allows every port")
            return
        if ports <= {53, dbport}:
            return
        if prog == "ovop-notifyd" and ports == {443}:
            for x in peers:
                ipb = x.get("ipBlock")
                if ipb is None or (ipaddress.ip_network(ipb["cidr"]).version == 4 and not all(
                        any(ipaddress.ip_network(p).subnet_of(ipaddress.ip_network(e))
                            for e in ipb.get("except", []) if ":" not in e) for p in PRIVATE)):
                    self.find(w, "NETPOL_WEBHOOK_PRIVATE", "webhook egress (443) reaches private "
                              f"ranges: except {', '.join(PRIVATE)}")
            return
        self.find(w, "NETPOL_EGRESS_OPEN", f"egress to every address on ports "
                  f"{sorted(map(str, ports))}: only DNS, PostgreSQL and webhooks may be")

    def check_cnpg(self):
        """With a CloudNativePG Cluster: the daemons write through its -rw Service and read
        through its -ro one; three instances, a synchronous standby, WAL archiving."""
        for cl in self.of_kind("Cluster"):
            name, spec = cl["metadata"]["name"], cl["spec"]
            if spec.get("instances", 1) < 3 or spec.get("minSyncReplicas", 0) < 1:
                self.find(cl, "CNPG", "needs 3 instances and minSyncReplicas 1 at least")
            if not (spec.get("backup") or {}).get("barmanObjectStore", {}).get("wal"):
                self.find(cl, "CNPG", "no WAL archiving (backup.barmanObjectStore.wal)")
            for w in self.workloads:
                for c in containers(w, init=False):
                    env = self.env_of(w, c)
                    for var, svc in (("OVOP_DATABASE_URL", f"{name}-rw"),
                                     ("OVOP_DATABASE_READ_URL", f"{name}-ro")):
                        prog = self.daemon(c)
                        if prog is None or self.no_database(prog) or (
                                var == "OVOP_DATABASE_READ_URL" and prog == "ovop-broker"):
                            continue
                        host = re.match(r"^postgres(?:ql)?://([^:/?]*)", env.get(var) or "")
                        if not host or host.group(1) != svc:
                            self.find(w, "CNPG_SERVICE", f"{c['name']}: {var} "
                                      f"{env.get(var)} is not the Cluster's Service {svc}")

    def run(self):
        self.check_workloads()
        self.check_cnpg()
        self.check_services()
        self.check_images()
        self.check_configmaps()
        for d in self.workloads:
            self.check_security(d)
            files = self.pod_files(d)
            for c in containers(d):
                env = self.check_container(d, c, files)
                self.check_ovop_container(d, c, env)
                self.check_pgpass(d, c, env)
                self.check_no_database(d, c, env, files)
                if self.binary(c) == "ovop-setup":
                    self.check_setup_files(d, files)
        self.check_network()
        return sorted(set(self.findings))


def is_dashboard(d):
    return pod_labels(d).get("app.kubernetes.io/component") == "dashboard"


def peer_open(peer):
    """A peer that lets in (or out) more than named pods of this or a named namespace."""
    if not peer:
        return True
    if "ipBlock" in peer:
        return True
    ns = peer.get("namespaceSelector")
    return ns is not None and not ns.get("matchLabels") and not ns.get("matchExpressions")


def secret_like(name, value):
    if "secret-key" in value or re.search(r"(?m)^[^:\s/]+:(\*|\d+):[^:\s/]+:[^:\s/]+:\S+$", value):
        return True
    if re.search(r"://[^/@:\s]+:[^/@\s]+@", value) or re.search(r"(?i)password=", value):
        return True
    return bool(re.search(r"PASSWORD|SECRET", name.upper())) and not value.startswith("/")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--expect-fail", metavar="FINDINGS")
    ap.add_argument("--renderer", choices=["auto", "kubectl", "python"], default="auto")
    ap.add_argument("--crosscheck", action="store_true")
    ap.add_argument("bindir")
    ap.add_argument("setup")
    ap.add_argument("targets", nargs="+", metavar="DIR:EXAMPLE[,EXAMPLE...]")
    a = ap.parse_args()
    kubectl = shutil.which("kubectl") is not None
    renderer = a.renderer if a.renderer != "auto" else ("kubectl" if kubectl else "python")
    findings = []
    for t in a.targets:
        kdir, _, ex = t.partition(":")
        try:
            docs = render_kubectl(kdir) if renderer == "kubectl" else render_python(kdir)
            if a.crosscheck and kubectl:
                other = keyed(render_python(kdir) if renderer == "kubectl"
                              else render_kubectl(kdir))
                mine = keyed(docs)
                for k in sorted(set(mine) | set(other), key=str):
                    if mine.get(k) != other.get(k):
                        findings.append(f"{kdir}: RENDER: kubectl and the Python renderer differ "
                                        f"on {k[0]}/{k[2]}")
        except (ValueError, KeyError, IndexError, TypeError, OSError, yaml.YAMLError) as e:
            findings.append(f"{kdir}: RENDER: {e}")
            continue
        examples = [d for f in ex.split(",") if f for d in load_docs(f)]
        lint = Lint(a.bindir, a.setup, docs, examples)
        findings += [f"{kdir}: {f}" for f in lint.run()]
    helps = {p: read_help(a.bindir, p)[1] for p in sorted(os.listdir(a.bindir))
             if p.startswith("ovop-") or p == "ovopctl"}
    for v in sorted(PENDING):
        for prog, env in helps.items():
            if v in env:
                findings.append(f"{sys.argv[0]}: PENDING_STALE: {prog} --help lists {v} now: "
                                "delete it from PENDING")
                break
    findings = sorted(set(findings))
    for f in findings:
        print(f)
    if a.expect_fail:
        with open(a.expect_fail, encoding="utf-8") as f:
            want = [w.strip() for w in f if w.strip() and not w.startswith("#")]
        missing = [w for w in want if not any(w in f for f in findings)]
        # A fixture that does not render, or renders differently, proves nothing.
        missing += [f for f in findings if ": RENDER: " in f]
        for w in missing:
            print(f"NOT FOUND (expected): {w}")
        print(f"{len(findings)} findings, {len(want) - len(missing)}/{len(want)} expected found "
              f"({renderer})")
        return 1 if missing else 0
    print(f"{len(findings)} findings in {', '.join(t.partition(':')[0] for t in a.targets)} "
          f"({renderer}{', crosschecked' if a.crosscheck and kubectl else ''})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
