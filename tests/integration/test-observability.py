#!/usr/bin/python3
"""Observability end to end (deploy/observability): `deploy/ovop up` in a scratch var/ (its own
PostgreSQL, the broker and one instance of every daemon, debug logs), a few calls through
ovopctl, then every process's /metrics scraped and checked against what alerts.yml and the
Grafana dashboard use: every metric name (histogram suffixes stripped) must be exported by some
process, every label a selector or a grouping names must exist on the series. The same check
run on a bad fixture (observability-bad-rules.yml) must fail. Also: ovop_requests_total and
ovop_broker_replies_total carry the status, and one request id shows in the broker's and the
registry daemon's log (whichever instance served it). promtool checks the rules when it is installed.

    tests/integration/test-observability.py BUILD_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
OBS = os.path.join(ROOT, "deploy", "observability")
BAD_FIXTURE = os.path.join(ROOT, "tests", "integration", "observability-bad-rules.yml")

# Names a rule or panel may use that no OVOP process exports, each with why.
ALLOWED_MISSING = {
    "up": "Prometheus's own series per scrape target",
}
# Labels Prometheus adds per target (prometheus.yml), and the buckets' le.
TARGET_LABELS = {"job", "instance", "component", "instance_name", "namespace", "pod", "le"}

KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan",
}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_expr(expr, legend=""):
    """(metrics, selectors, grouping): the metric names of a PromQL expression, (metric,
    label) pairs its selectors match on, and the labels it groups by or a legend shows."""
    grouping = set()
    for m in GROUPING.finditer(expr):
        grouping |= {x.strip() for x in m.group(2).split(",") if x.strip()}
    grouping |= set(re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend))
    s = GROUPING.sub(" ", expr)
    selectors = []
    for m in SELECTOR.finditer(s):
        for label in MATCHER.findall(m.group(2)):
            selectors.append((m.group(1), label))
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r'"[^"]*"', " ", s)
    s = re.sub(r"\$\w+", " ", s)
    metrics = set()
    for m in IDENT.finditer(s):
        tok = m.group(0)
        before = s[m.start() - 1] if m.start() else " "
        if before.isdigit() or before == ".":
            continue  # the exponent of a number
        after = s[m.end():].lstrip()[:1]
        if after == "(" or tok.lower() in KEYWORDS:
            continue
        metrics.add(tok)
    return metrics, selectors, grouping


def rule_exprs(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    out = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            out.append((f"{path}: {r.get('alert') or r.get('record')}", r["expr"], ""))
    return out


def dashboard_exprs(path):
    with open(path) as f:
        doc = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"{path}: panel {p.get('title')!r}", t["expr"],
                                t.get("legendFormat", "")))
            walk(p.get("panels", []))

    walk(doc.get("panels", []))
    for v in doc.get("templating", {}).get("list", []):
        q = v.get("definition") or ""
        m = re.match(r"label_values\((\w+),\s*(\w+)\)", q)
        if m:
            out.append((f"{path}: variable {v['name']}", m.group(1), "{{" + m.group(2) + "}}"))
    return out


def parse_scrape(text, families):
    """Adds each sample's metric name and label names to families {name: set(labels)}."""
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families.setdefault(line.split()[2], set())
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
        if not m:
            continue
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
        families.setdefault(m.group(1), set()).update(labels)


def family_of(name, families):
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            return name
    return None


def check(exprs, families):
    """Problems of the expressions against the scraped families, as sentences."""
    problems = []
    for where, expr, legend in exprs:
        metrics, selectors, grouping = parse_expr(expr, legend)
        known = set()
        for name in sorted(metrics):
            fam = family_of(name, families)
            if fam:
                known.add(fam)
            elif name not in ALLOWED_MISSING:
                problems.append(f"{where}: metric {name} is exported by no process")
        for name, label in selectors:
            fam = family_of(name, families) if name else None
            if fam and label not in families[fam] and label not in TARGET_LABELS:
                problems.append(f"{where}: {name} has no label {label}")
        for label in sorted(grouping - TARGET_LABELS):
            if known and not any(label in families[f] for f in known):
                problems.append(f"{where}: no series of {sorted(known)} has the label {label}")
    return problems


def run(cmd, env, check_rc=True, **kw):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)
    if check_rc and r.returncode != 0:
        fail(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Z0-9_]+)='?([^']*)'?$", line.strip())
            if m:
                env[m.group(1)] = m.group(2)
    return env


def sample(addr, series):
    """The value of one series (name with its labels as rendered) on a /metrics, or None."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
    return None


def log_has_rid(path, rid):
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                if json.loads(line).get("request_id") == rid:
                    return True
            except ValueError:
                continue
    return False


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    build = os.path.realpath(sys.argv[1])
    exprs = rule_exprs(os.path.join(OBS, "alerts.yml"))
    exprs += dashboard_exprs(os.path.join(OBS, "ovop-dashboard.json"))
    if len(exprs) < 20:
        fail(f"only {len(exprs)} expressions found in alerts.yml and the dashboard")

    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "rules", os.path.join(OBS, "alerts.yml")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"promtool check rules:\n{r.stdout}{r.stderr}")
        print("promtool check rules: ok")
    else:
        print("promtool not installed: rules not checked by it")

    var = os.path.join(build, "test-observability-var")
    ovop = os.path.join(ROOT, "deploy", "ovop")
    env = dict(os.environ, OVOP_VAR_DIR=var, OVOP_BUILD_DIR=build, OVOP_UP_BUILD="0",
               OVOP_DEMO_DATA="0", OVOP_UP_TIMEOUT="120", OVOP_LOG_LEVEL="debug")
    run([ovop, "down", "--purge"], env, check_rc=False)
    shutil.rmtree(var, ignore_errors=True)
    try:
        r = run([ovop, "up"], env, check_rc=False)
        if r.returncode != 0:
            fail(f"deploy/ovop up failed:\n{r.stdout}\n{r.stderr}")
        test(build, var, env, exprs)
    finally:
        run([ovop, "down", "--purge"], env, check_rc=False)
        shutil.rmtree(var, ignore_errors=True)
    print("PASS")


def test(build, var, env, exprs):
    cenv = dict(env, **read_env(os.path.join(var, "ovop.env")))
    ctl = os.path.join(build, "bin", "ovopctl")
    rid = f"obs-test-{os.getpid()}-{int(time.time())}"
    run([ctl, f"--request-id={rid}", "territory", "list", "--page-size", "3"], cenv)
    run([ctl, "territory", "get", "41700000000000"], cenv, check_rc=False)
    run([ctl, "territory", "get", "123"], cenv, check_rc=False)  # INVALID_ARGUMENT
    run([ctl, "export", "list"], cenv)
    run([ctl, "order", "list"], cenv)
    run([ctl, "subscription", "list"], cenv)
    # A write, so the event log has a head to report (a new village under Ak-Suu District).
    run([ctl, "territory", "create", "41702205000001", "--kind", "village", "--parent",
         "41702205000000", "--ru", "Тест"], cenv)

    endpoints = {k[len("OVOP_HTTP_"):].lower(): v for k, v in cenv.items()
                 if k.startswith("OVOP_HTTP_")}
    want = {"broker", "registryd_1", "exportd_1", "matchd_1", "notifyd_1"}
    if not want <= set(endpoints):
        fail(f"ops endpoints in ovop.env: {sorted(endpoints)}, want at least {sorted(want)}")
    # prometheus.yml's local job reads what local-targets.sh writes: one target per process.
    run([os.path.join(OBS, "local-targets.sh"), var], env)
    with open(os.path.join(var, "prometheus-targets.json")) as f:
        targets = sorted(t for g in json.load(f) for t in g["targets"])
    if targets != sorted(endpoints.values()):
        fail(f"local-targets.sh wrote {targets}, want {sorted(endpoints.values())}")
    with open(os.path.join(OBS, "prometheus.yml")) as f:
        prom = yaml.safe_load(f)
    if prom.get("rule_files") != ["alerts.yml"] or not any(
            "file_sd_configs" in j for j in prom["scrape_configs"]):
        fail("prometheus.yml does not load alerts.yml or has no file_sd job for local-targets.sh")

    # The head gauge (read every 5 s) reaches the database's head; matchd's index catches up.
    psql = shutil.which("psql") or "/usr/bin/psql"
    db_head = float(run([psql, "-XAtq", cenv["OVOP_DATABASE_URL"], "-c",
                         "SELECT last_seq FROM bus.sequencer"], cenv).stdout.strip())
    if db_head < 1:
        fail(f"the event log head is {db_head} after a write")
    for name, series, want in (("registryd_1", "ovop_event_log_head", db_head),
                               ("matchd_1", "ovop_event_log_head", db_head),
                               ("matchd_1", 'ovop_consumer_lag_events{consumer="matching:index"}',
                                0.0)):
        got = None
        for _ in range(60):
            got = sample(endpoints[name], series)
            if got == want:
                break
            time.sleep(0.25)
        if got != want:
            fail(f"{name}: {series} is {got}, want {want}")
    print(f"ovop_event_log_head is the database's ({db_head:g}); matchd's index lag is 0")

    families = {}
    per_process = {}
    for name, addr in sorted(endpoints.items()):
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        fams = {}
        parse_scrape(text, fams)
        per_process[name] = fams
        parse_scrape(text, families)
    print(f"scraped {len(endpoints)} processes, {len(families)} metric names")

    # Every process: build info and process metrics, with its daemon name.
    for name, fams in per_process.items():
        for m in ("ovop_build_info", "process_resident_memory_bytes",
                  "process_cpu_seconds_total", "process_start_time_seconds"):
            if m not in fams:
                fail(f"{name} does not export {m}")
    for name in ("registryd_1", "exportd_1", "matchd_1", "notifyd_1"):
        fams = per_process[name]
        for m in ("ovop_requests_total", "ovop_request_duration_seconds", "ovop_pg_pool_size",
                  "ovop_pg_connections_busy", "ovop_pg_reconnects_total"):
            if m not in fams:
                fail(f"{name} does not export {m}")
        if "status" not in fams["ovop_requests_total"]:
            fail(f"{name}: ovop_requests_total has no status label")
    for name in ("registryd_1", "exportd_1", "matchd_1"):
        if "ovop_event_log_head" not in per_process[name]:
            fail(f"{name} does not export ovop_event_log_head")
    if "status" not in per_process["broker"].get("ovop_broker_replies_total", set()):
        fail("the broker's ovop_broker_replies_total has no status label")

    problems = check(exprs, families)
    if problems:
        fail("the rules and the dashboard use what no process exports:\n  " +
             "\n  ".join(problems))
    print(f"{len(exprs)} expressions of alerts.yml and the dashboard: every metric and label "
          "exists")

    bad = check(rule_exprs(BAD_FIXTURE), families)
    if not any("ovop_no_such_metric_total" in p for p in bad):
        fail(f"the bad fixture's missing metric went unnoticed: {bad}")
    if not any("no_such_label" in p for p in bad):
        fail(f"the bad fixture's missing label went unnoticed: {bad}")
    print("the bad fixture fails the check as it should:\n  " + "\n  ".join(bad))

    # One request id across the broker and the daemon (both log at debug here).
    time.sleep(0.5)
    logs = os.path.join(var, "log")
    if not log_has_rid(os.path.join(logs, "broker.log"), rid):
        fail(f"request id {rid} is not in var/log/broker.log")
    daemons = [f for f in sorted(os.listdir(logs)) if re.match(r"registryd-\d+\.log$", f)]
    holders = [f for f in daemons if log_has_rid(os.path.join(logs, f), rid)]
    if not holders:
        fail(f"request id {rid} is in none of the registry daemons' logs {daemons}")
    print(f"request id {rid} is in the broker's log and in {holders[0]}")
    for f in daemons:
        with open(os.path.join(logs, f), errors="replace") as fh:
            if "could not count certificates" in fh.read():
                fail(f"{f}: the certificate gauges' query failed (see the log)")


if __name__ == "__main__":
    main()
