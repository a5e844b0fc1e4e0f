"""bench/run: runs the heimdallr benchmark scenarios against heimdallr and its peers on this
machine, in one run, and writes bench/results/<date>-<host>[-profile].json, latest.md and plots.
Standard library only. See bench/README.md."""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import procs
import report
import scenarios

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)

ALL = ["heimdallr", "socketio", "ws"]
# S1 and S2 also run heimdallr with auth on, to show what a token per upgrade costs.
WITH_AUTH = ["heimdallr", "heimdallr_auth", "socketio", "ws"]
GRID = [(10, 1), (100, 5), (1000, 10), (1000, 50), (1000, 100)]
# S6 throughput at one node: raw heimdallr, v2 without and with history, Socket.IO without and
# with connection state recovery.
V2_SYSTEMS = ["heimdallr", "heimdallr_v2_nohist", "heimdallr_v2", "socketio", "socketio_csr"]

# S3 room configurations: start at ~5k deliveries/s (profiles may override), x1.5 per step.
S3_CONFIGS = {
    "room10": {"name": "room10", "rooms": 1, "room_size": 10, "pubs": 10, "start_deliveries": 5000},
    "room100": {"name": "room100", "rooms": 1, "room_size": 100, "pubs": 10, "start_deliveries": 5000},
    "room1000": {"name": "room1000", "rooms": 1, "room_size": 1000, "pubs": 10, "start_deliveries": 5000},
    "rooms10x1000": {"name": "rooms10x1000", "rooms": 1000, "room_size": 10, "pubs": 1,
                     "start_deliveries": 5000},
}

PROFILES = {
    # Seconds, tiny sizes: keeps the harness working in CI; asserts data, never speed.
    "smoke": {
        "S0": {"reps": 1, "micro_conns": 10, "micro_seconds": 0.2, "micro_batch": 16, "redis_requests": 2000},
        "S1": {"reps": 1, "sizes": [200], "room_size": 100, "systems": WITH_AUTH, "settle_s": 0.2,
               "hold_s": 0.5, "conns_per_server": 18000, "connect_timeout_s": 20},
        "S2": {"reps": 1, "rows": [(10, 1)], "nodes": [1, 2], "systems": WITH_AUTH, "pub_rate": 10,
               "burst": 3, "bursts": True, "step_s": 0.5, "warmup_s": 0.3, "settle_s": 0.2, "drain_s": 1},
        "S3": {"reps": 1, "configs": [S3_CONFIGS["room10"]], "systems": ALL, "factor": 1.5, "step_s": 0.3,
               "max_steps": 2, "warmup_s": 0.2, "settle_s": 0.2, "drain_s": 1, "p99_limit_ms": 100},
        "S4": {"reps": 1, "configs": [(1, 10)], "seconds": 1},
        "S5": {"reps": 1, "rows": [(10, 1)], "systems": ["heimdallr", "socketio"], "pub_rate": 10,
               "burst": 3, "step_s": 0.5, "warmup_s": 0.3, "settle_s": 0.2, "drain_s": 1},
        "S6": {"reps": 1, "configs": [S3_CONFIGS["room10"]], "nodes": [1, 2],
               "systems": ["heimdallr", "heimdallr_v2", "socketio_csr"], "multi_systems": ["heimdallr", "heimdallr_v2"],
               "factor": 1.5, "step_s": 0.3, "max_steps": 2, "warmup_s": 0.2, "settle_s": 0.2, "drain_s": 1,
               "p99_limit_ms": 100, "presence_nodes": [1, 2], "presence_members": 50, "presence_calls": 20,
               "recovery_systems": ["heimdallr_v2", "socketio_csr"], "recovery_nodes": [1, 2],
               "recovery_cycles": 3, "recovery_warmup": 1, "missed": 100, "pause_s": 0.05},
    },
    # <= 3 minutes: one repetition, the grid's corners, two S3 shapes.
    "quick": {
        "S0": {"reps": 1, "micro_conns": 100, "micro_seconds": 0.5, "micro_batch": 16, "redis_requests": 20000},
        "S1": {"reps": 1, "sizes": [1000, 10000], "room_size": 100, "systems": WITH_AUTH, "settle_s": 0.3,
               "hold_s": 0.5, "conns_per_server": 18000, "connect_timeout_s": 60, "settle_tries": 3},
        "S2": {"reps": 1, "rows": [(10, 1), (1000, 10), (1000, 100)], "multi_rows": [(1000, 10)],
               "nodes": [1, 2], "systems": WITH_AUTH, "pub_rate": 1, "burst": 3, "bursts": True, "step_s": 1.5,
               "warmup_s": 1, "settle_s": 0.2, "drain_s": 0.5},
        "S3": {"reps": 1, "configs": [S3_CONFIGS["room100"], S3_CONFIGS["rooms10x1000"]], "systems": ALL,
               "factor": 1.5, "step_s": 0.7, "max_steps": 18, "warmup_s": 0.3, "settle_s": 0.2,
               "drain_s": 0.5, "p99_limit_ms": 100, "start_deliveries": 10000},
        "S4": {"reps": 1, "configs": [(2, 100), (2, 1000), (6, 10000)], "seconds": 2},
        "S5": {"reps": 1, "rows": [(1000, 10)], "systems": ["heimdallr", "socketio"], "pub_rate": 1,
               "burst": 3, "step_s": 1.5, "warmup_s": 1, "settle_s": 0.2, "drain_s": 0.5},
        "S6": {"reps": 1, "configs": [S3_CONFIGS["room100"]], "nodes": [1, 2], "systems": V2_SYSTEMS,
               "multi_systems": ["heimdallr", "heimdallr_v2"], "factor": 1.5, "step_s": 0.7, "max_steps": 18,
               "warmup_s": 0.3, "settle_s": 0.2, "drain_s": 0.5, "p99_limit_ms": 100, "start_deliveries": 10000,
               "presence_nodes": [1, 2], "presence_members": 1000, "presence_calls": 200,
               "recovery_systems": ["heimdallr_v2", "socketio_csr"], "recovery_nodes": [1, 2],
               "recovery_cycles": 50, "recovery_warmup": 3, "missed": 100, "pause_s": 0.05},
    },
    # <= 30 minutes: everything, three repetitions each.
    "full": {
        "S0": {"reps": 3, "micro_conns": 100, "micro_seconds": 1, "micro_batch": 16, "redis_requests": 100000},
        "S1": {"reps": 3, "sizes": [1000, 10000, 50000], "room_size": 100, "systems": WITH_AUTH, "settle_s": 1,
               "hold_s": 3, "conns_per_server": 18000, "connect_timeout_s": 180, "settle_tries": 4},
        "S2": {"reps": 3, "rows": GRID, "nodes": [1, 2, 4], "systems": WITH_AUTH, "pub_rate": 1, "burst": 3,
               "bursts": True, "step_s": 2, "warmup_s": 1, "settle_s": 0.5, "drain_s": 1},
        "S3": {"reps": 3, "configs": list(S3_CONFIGS.values()), "systems": ALL, "factor": 1.5,
               "step_s": 1.5, "max_steps": 20, "warmup_s": 0.5, "settle_s": 0.5, "drain_s": 1,
               "p99_limit_ms": 100, "start_deliveries": 10000},
        "S4": {"reps": 3, "configs": [(2, 100), (2, 1000), (6, 10000)], "seconds": 5},
        "S5": {"reps": 3, "rows": [(100, 5), (1000, 10)], "systems": ["heimdallr", "socketio"],
               "pub_rate": 1, "burst": 3, "step_s": 3, "warmup_s": 1, "settle_s": 0.5, "drain_s": 2},
        "S6": {"reps": 3, "configs": [S3_CONFIGS["room100"], S3_CONFIGS["room1000"]], "nodes": [1, 2],
               "systems": V2_SYSTEMS, "multi_systems": ["heimdallr", "heimdallr_v2_nohist", "heimdallr_v2"],
               "factor": 1.5, "step_s": 1.5, "max_steps": 20, "warmup_s": 0.5, "settle_s": 0.5, "drain_s": 1,
               "p99_limit_ms": 100, "start_deliveries": 10000, "presence_nodes": [1, 2],
               "presence_members": 1000, "presence_calls": 500,
               "recovery_systems": ["heimdallr_v2", "socketio_csr"], "recovery_nodes": [1, 2],
               "recovery_cycles": 100, "recovery_warmup": 3, "missed": 100, "pause_s": 0.05},
    },
}

SCENARIOS = [
    ("S0", "ceilings", scenarios.s0_ceilings),
    ("S1", "idle memory", scenarios.s1_idle),
    ("S2", "latency grid", scenarios.s2_grid),
    ("S3", "max throughput", scenarios.s3_throughput),
    ("S4", "HTTP /health", scenarios.s4_http),
    ("S5", "cross-node", scenarios.s5_cross_node),
    ("S6", "v2: history, presence, recovery", scenarios.s6_v2),
]


class Context:
    def __init__(self, args, profile):
        self.root = ROOT
        self.profile = profile
        self.server = os.path.abspath(args.server)
        self.plugin_dir = os.path.abspath(args.plugin_dir)
        self.loadgen = os.path.abspath(args.loadgen)
        self.peers_dir = os.path.join(BENCH, "peers")
        self.out_dir = os.path.abspath(args.out)
        self.log_dir = os.path.join(self.out_dir, "logs") if profile == "smoke" else tempfile.mkdtemp(prefix="heimdallr-bench-")
        os.makedirs(self.log_dir, exist_ok=True)
        self.payload = args.size
        self.gen_cpu_limit = 0.8
        cpus = sorted(os.sched_getaffinity(0))
        self.pin = not args.no_pin and len(cpus) >= 2
        if self.pin:
            # The generator (and wrk) on the first CPU, every server (and Redis) on the others.
            self.gen_cpus = str(cpus[0])
            self.server_cpus = ",".join(map(str, cpus[1:]))
            self.io_threads = len(cpus) - 1
        else:
            self.gen_cpus = self.server_cpus = None
            self.io_threads = 0
        self.started = time.monotonic()
        self._uniq = 0
        self._tty = sys.stderr.isatty()
        self._last = ""

    def unique(self, prefix):
        self._uniq += 1
        return f"{prefix}-{os.getpid()}-{self._uniq}"

    def progress(self, scenario, step):
        el = int(time.monotonic() - self.started)
        line = f"[{el // 60:02d}:{el % 60:02d}] {scenario}: {step}"
        if self._tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self._last = line

    def end_progress(self):
        if self._tty and self._last:
            sys.stderr.write("\n")

    def _taskset(self, argv, cpus):
        return (["taskset", "-c", cpus] if cpus else []) + argv

    def parse_json(self, text, name):
        for line in reversed(text.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"{name}: no JSON report in its output: {text[-300:]!r}")

    def run_loadgen(self, label, args):
        """Runs the generator to completion and returns its JSON report."""
        def val(flag, default):
            return float(args[args.index(flag) + 1]) if flag in args else default
        steps = val("--steps", 1) + val("--burst-steps", 0)
        timeout = 120 + val("--settle", 0.5) + val("--warmup", 1) + steps * (val("--step", 5) + val("--drain", 2) + 1)
        argv = self._taskset([self.loadgen, "run", "--size", str(self.payload), "--label", label] + args,
                             self.gen_cpus)
        with open(os.path.join(self.log_dir, f"loadgen-{label}.log"), "ab") as log:
            try:
                p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=log, timeout=timeout)
            except subprocess.TimeoutExpired:
                return {"error": f"loadgen timed out after {timeout:.0f}s", "steps": []}
        try:
            return self.parse_json(p.stdout.decode(), label)
        except (RuntimeError, ValueError) as e:
            return {"error": f"exit {p.returncode}: {e}", "steps": []}

    def run_tool(self, argv, label):
        return self.parse_json(self.run_text(argv, label, cpus=self.gen_cpus), label)

    def run_text(self, argv, label, cpus=None, timeout=300):
        with open(os.path.join(self.log_dir, f"{label}.log"), "ab") as log:
            p = subprocess.run(self._taskset(argv, cpus), stdout=subprocess.PIPE, stderr=log,
                               timeout=timeout)
        text = p.stdout.decode(errors="replace")
        with open(os.path.join(self.log_dir, f"{label}.log"), "a") as log:
            log.write(text)
        return text


def _cmd(argv):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=10).stdout.decode(errors="replace").strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def environment(ctx):
    cpuinfo = _read("/proc/cpuinfo") or ""
    m = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    meminfo = _read("/proc/meminfo") or ""
    mt = re.search(r"MemTotal:\s*(\d+)", meminfo)
    osr = _read("/etc/os-release") or ""
    pretty = re.search(r'PRETTY_NAME="([^"]*)"', osr)
    lock = {}
    try:
        with open(os.path.join(ctx.peers_dir, "package-lock.json")) as f:
            pk = json.load(f).get("packages", {})
        for name in ("socket.io", "engine.io", "ws", "@socket.io/redis-adapter", "redis", "socket.io-adapter"):
            lock[name] = pk.get(f"node_modules/{name}", {}).get("version")
    except (OSError, ValueError):
        pass
    git_rev = _cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = _cmd(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu_model": m.group(1) if m else platform.processor(),
        "cpus_online": os.cpu_count(),
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
        "mem_total_kb": int(mt.group(1)) if mt else None,
        "kernel": platform.release(),
        "os": pretty.group(1) if pretty else None,
        "versions": {
            "heimdallr": f"{git_rev}{'+dirty' if dirty else ''}" if git_rev else None,
            "compiler": (_cmd(["c++", "--version"]) or "").splitlines()[0] if _cmd(["c++", "--version"]) else None,
            "node": _cmd(["node", "--version"]),
            "npm_packages": lock,
            "redis": _cmd(["redis-server", "--version"]),
            "wrk": ((_cmd(["wrk", "--version"]) or "").splitlines() or [None])[0],
            "gnuplot": _cmd(["gnuplot", "--version"]),
            "python": platform.python_version(),
        },
        "pinning": {
            "enabled": ctx.pin,
            "generator_and_wrk_cpus": ctx.gen_cpus,
            "server_and_redis_cpus": ctx.server_cpus,
            "heimdallr_io_threads": ctx.io_threads,
            "note": "taskset -c; Node servers are single-threaded either way",
        },
        "ulimits": {"nofile_soft": soft, "nofile_hard": hard},
        "sysctl": {k: _read(f"/proc/sys/{k.replace('.', '/')}") for k in (
            "net.core.somaxconn", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_max_syn_backlog",
            "net.ipv4.tcp_mem", "fs.nr_open")},
        "loadavg_start": _read("/proc/loadavg"),
        "payload_bytes": ctx.payload,
        "generator_cpu_limit": ctx.gen_cpu_limit,
    }


def smoke_check(results):
    """Every scenario produced data (never a speed). Returns a list of problems."""
    bad = []
    s = results["scenarios"]
    if "S0" in s:
        a = s["S0"].get("agg", {})
        if not (a.get("one_send_per_recipient") or {}).get("median"):
            bad.append("S0: no fan-out micro figure")
        if not (a.get("redis_publish_rps") or {}).get("median"):
            bad.append("S0: no redis-benchmark figure")
    if "S1" in s:
        for r in s["S1"]["rows"]:
            if not (r["agg"].get("rss_kb_per_conn") or {}).get("n"):
                bad.append(f"S1: no memory figure for {r['system']} {r['connections']}: {r.get('errors')}")
    for key in ("S2", "S5"):
        if key in s:
            for r in s[key]["rows"]:
                if not (r.get("agg", {}).get("p50") or {}).get("n") or not r["agg"]["samples"]["median"]:
                    bad.append(f"{key}: no latency data for {r.get('system')} {r.get('nodes', '')} "
                               f"{r.get('subs')}/{r.get('pubs')} {r.get('mode', '')}: {r.get('error')}")
    if "S3" in s:
        for r in s["S3"]["rows"]:
            if not any(rep.get("steps") for rep in r["reps"]):
                bad.append(f"S3: no ramp steps for {r['system']} {r['config']}: {[x.get('error') for x in r['reps']]}")
    if "S4" in s:
        for r in s["S4"]["rows"]:
            if not (r["agg"].get("rps") or {}).get("median"):
                bad.append(f"S4: no wrk figure for {r['system']} -c{r['connections']}")
    if "S6" in s:
        s6 = s["S6"]
        if s6.get("error"):
            bad.append(f"S6: {s6['error']}")
        for r in s6.get("throughput", []):
            if not any(rep.get("steps") for rep in r["reps"]):
                bad.append(f"S6: no ramp steps for {r['system']} nodes={r['nodes']} {r['config']}: "
                           f"{[x.get('error') for x in r['reps']]}")
        for r in s6.get("presence", []):
            if not (r["agg"].get("presence_p50") or {}).get("n") or not (r["agg"].get("join_p50") or {}).get("n"):
                bad.append(f"S6: no presence figures at nodes={r['nodes']}: {r.get('errors')}")
        for r in s6.get("recovery", []):
            if not r["agg"].get("cycles") or r["agg"].get("request_p50") is None:
                bad.append(f"S6: no recovery figures for {r['system']} nodes={r['nodes']}: {r.get('errors')}")
        if not any(s6.get(k) for k in ("throughput", "presence", "recovery")):
            bad.append("S6: no rows")
    return bad


def merge_runs(paths, out_dir):
    """bench/run --merge: latest.md from several saved runs of one machine. Returns an exit code."""
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append((os.path.basename(path), json.load(f)))
    base_name, base = runs[0]
    env = base["environment"]
    base.setdefault("sources", {})
    for name, run in runs[1:]:
        other = run["environment"]
        if (other["host"], other["cpu_model"], other["cpus_online"]) != (env["host"], env["cpu_model"], env["cpus_online"]):
            print(f"bench/run --merge: {name} is from another machine ({other['host']}, {other['cpu_model']}); "
                  "figures of other machines are never mixed", file=sys.stderr)
            return 65
        for key, value in run["scenarios"].items():
            base["scenarios"][key] = value
            base["sources"][key] = {"json": name, "profile": run["profile"], "date": other["date"],
                                    "heimdallr": other["versions"].get("heimdallr"),
                                    "loadavg_start": other.get("loadavg_start"),
                                    "loadavg_end": other.get("loadavg_end")}
    order = [k for k, _, _ in SCENARIOS]
    base["scenarios"] = {k: base["scenarios"][k] for k in order if k in base["scenarios"]}
    os.makedirs(out_dir, exist_ok=True)
    path = report.write_markdown(base, os.path.join(out_dir, "latest.md"), base_name)
    print(f"bench/run --merge: wrote {path} from {', '.join(n for n, _ in runs)}")
    return 0


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--smoke", action="store_true", help="seconds, tiny sizes (CI)")
    g.add_argument("--quick", action="store_true", help="<= 3 minutes")
    ap.add_argument("--only", help="comma list of scenarios, e.g. S2,S3")
    ap.add_argument("--out", help="results directory (default bench/results; smoke: a temp dir)")
    ap.add_argument("--server", default=os.path.join(ROOT, "build/bin/heimdallr"))
    ap.add_argument("--plugin-dir", default=os.path.join(ROOT, "build/plugins"))
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "build/bin/heimdallr_loadgen"))
    ap.add_argument("--size", type=int, default=128, help="payload bytes (default 128)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    ap.add_argument("--param", action="append", default=[], metavar="S.key=JSON",
                    help="override a profile parameter, e.g. --param 'S1.sizes=[50000]'")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="run nothing: write latest.md from saved runs of this machine, the first run's "
                         "scenarios plus each later run's (a later one replaces the same scenario), every "
                         "section from a later run labelled as such")
    args = ap.parse_args()
    if args.merge:
        sys.exit(merge_runs(args.merge, args.out or os.path.join(BENCH, "results")))
    profile = "smoke" if args.smoke else "quick" if args.quick else "full"
    if not args.out:
        args.out = tempfile.mkdtemp(prefix="heimdallr-bench-smoke-") if profile == "smoke" \
            else os.path.join(BENCH, "results")
    os.makedirs(args.out, exist_ok=True)
    for path, what in ((args.server, "--server"), (args.loadgen, "--loadgen")):
        if not os.access(path, os.X_OK):
            sys.exit(f"bench/run: {what} {path} is not an executable; build first (scripts/setup)")

    for item in args.param:
        key, _, value = item.partition("=")
        scen, _, name = key.partition(".")
        if scen not in PROFILES[profile] or not name:
            sys.exit(f"bench/run: --param {item}: expected S<n>.key=JSON")
        PROFILES[profile][scen][name] = json.loads(value)
    ctx = Context(args, profile)
    only = set(args.only.upper().split(",")) if args.only else None

    def on_signal(signum, _frame):
        procs.stop_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    results = {"profile": profile, "environment": environment(ctx), "scenarios": {}, "timings_s": {}}
    t0 = time.monotonic()
    try:
        for key, title, fn in SCENARIOS:
            if only and key not in only:
                continue
            ctx.progress(key, f"{title}: starting")
            ts = time.monotonic()
            try:
                results["scenarios"][key] = fn(ctx, PROFILES[profile][key])
            except Exception as e:  # noqa: BLE001 - one broken scenario must not hide the others
                import traceback
                traceback.print_exc()
                results["scenarios"][key] = {"error": f"{type(e).__name__}: {e}"[:500], "rows": []}
                procs.stop_all()
            results["timings_s"][key] = round(time.monotonic() - ts, 1)
    finally:
        procs.stop_all()
        ctx.end_progress()
    results["duration_s"] = round(time.monotonic() - t0, 1)
    results["environment"]["loadavg_end"] = _read("/proc/loadavg")
    results["log_dir"] = ctx.log_dir

    date = datetime.date.today().isoformat()
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())
    suffix = "" if profile == "full" else f"-{profile}"
    json_path = os.path.join(ctx.out_dir, f"{date}-{host}{suffix}.json")
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    md_name = "latest.md" if profile != "smoke" else "smoke.md"
    md_path = report.write_markdown(results, os.path.join(ctx.out_dir, md_name), os.path.basename(json_path))
    plots = report.write_plots(results, ctx.out_dir, ctx.log_dir)
    print(f"bench/run: {profile} run took {results['duration_s']:.0f}s; results {json_path}, {md_path}"
          + (f", plots {', '.join(plots)}" if plots else " (no plots: gnuplot missing)")
          + f"; logs {ctx.log_dir}")
    if profile == "smoke":
        problems = smoke_check(results)
        for p in problems:
            print(f"bench/run --smoke: {p}", file=sys.stderr)
        if problems:
            sys.exit(1)
        print("bench/run --smoke: every scenario produced data")


if __name__ == "__main__":
    main()
