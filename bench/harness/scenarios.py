"""The scenarios S0-S5. Each takes the run context and its profile section and returns a dict of
raw repetitions plus aggregates (median, min, max). See bench/README.md for what each measures."""

import math
import os
import re
import statistics
import subprocess
import time

from procs import Proc, cpu_seconds, slab_bytes, smaps_rollup, sockstat, stop_all
from systems import SYSTEMS, Cluster, Redis, query_args

LAT_KEYS = ("mean", "p50", "p99", "p999", "max")


def agg(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def step_summary(step):
    lat = step["latency_ms"]
    out = {k: lat[k] for k in LAT_KEYS}
    out.update({
        "samples": lat["count"],
        "delivered_per_s": step["delivered_per_s"],
        "delivered": step["delivered"],
        "expected": step["expected"],
        "lost": step["lost"],
        "duplicates": step["duplicates"],
        "out_of_order": step["out_of_order"],
        "late": step["late"],
        "closed_connections": step["closed_connections"],
        "offered_rate": step["offered_rate"],
        "gen_cpu_frac": step["gen_cpu_frac"],
        "server_cpu_s": step["server_cpu_s"],
        "cpu_window_s": step["cpu_window_s"],
        "send_lag_p99_ms": step["send_lag_ms"]["p99"],
        "gen_runq_wait_s": step.get("gen_runq_wait_s"),
        "server_runq_wait_s": step.get("server_runq_wait_s"),
        "pass": step["pass"],
        "fail_reason": step["fail_reason"],
    })
    return out


def aggregate_reps(reps, keys):
    out = {k: agg([r.get(k) for r in reps]) for k in keys}
    out["lost"] = sum(r.get("lost", 0) for r in reps)
    out["duplicates"] = sum(r.get("duplicates", 0) for r in reps)
    out["out_of_order"] = sum(r.get("out_of_order", 0) for r in reps)
    return out


def row_flags(reps, gen_limit):
    """S2/S5: a row fails on any loss, duplicate or closed connection (latency never fails it)."""
    failed = [r["fail_reason"] for r in reps
              if r["lost"] or r["duplicates"] or r["closed_connections"]]
    invalid = any(r["gen_cpu_frac"] > gen_limit for r in reps)
    return {"failed": bool(failed), "fail_reasons": sorted(set(failed)),
            "invalid": invalid, "gen_cpu_frac_max": max((r["gen_cpu_frac"] for r in reps), default=0)}


# --------------------------------------------------------------------------------------------
# S0: ceilings


def s0_ceilings(ctx, p):
    out = {"micro": [], "redis_publish": []}
    for rep in range(p["reps"]):
        ctx.progress("S0", f"loopback fan-out micro, rep {rep + 1}/{p['reps']}")
        # The sender stands where the servers run, the reader where the generator runs.
        argv = [ctx.loadgen, "micro", "--conns", str(p["micro_conns"]), "--size", str(ctx.payload),
                "--seconds", str(p["micro_seconds"]), "--batch", str(p["micro_batch"])]
        if ctx.pin:
            argv += ["--sender-cpu", ctx.server_cpus.split(",")[0], "--reader-cpu", ctx.gen_cpus]
        res = ctx.parse_json(ctx.run_text(argv, label=f"s0-micro-{rep}"), "micro")
        out["micro"].append(res)
    redis = Redis(ctx, name="redis-s0")
    sub = Proc("redis-s0-subscriber", ["redis-cli", "-p", str(redis.port), "subscribe", "bench"],
               ctx.log_dir, cpus=ctx.gen_cpus)
    try:
        for rep in range(p["reps"]):
            ctx.progress("S0", f"redis-benchmark PUBLISH, rep {rep + 1}/{p['reps']}")
            # Redis 7.0's redis-benchmark has no "publish" test (-t publish runs nothing), so the
            # command is given explicitly: PUBLISH to a channel with one subscriber, payload-sized.
            argv = ["redis-benchmark", "-p", str(redis.port), "-n", str(p["redis_requests"]),
                    "-c", "50", "--csv", "PUBLISH", "bench", "x" * ctx.payload]
            txt = ctx.run_text(argv, label=f"s0-redis-{rep}")
            m = re.search(r'^"PUBLISH[^"]*","([0-9.]+)","([0-9.]+)"', txt, re.M)
            out["redis_publish"].append({"rps": float(m.group(1)) if m else None,
                                         "avg_ms": float(m.group(2)) if m else None,
                                         "command": "PUBLISH bench <payload> (-c 50)"})
    finally:
        sub.stop()
        redis.stop()
    out["agg"] = {
        "one_send_per_recipient": agg([r["one_send_per_recipient"]["deliveries_per_s"] for r in out["micro"]]),
        "coalesced": agg([r["coalesced"]["deliveries_per_s"] for r in out["micro"]]),
        "one_send_per_recipient_per_cpu_s": agg([r["one_send_per_recipient"]["deliveries_per_cpu_s"] for r in out["micro"]]),
        "coalesced_per_cpu_s": agg([r["coalesced"]["deliveries_per_cpu_s"] for r in out["micro"]]),
        "redis_publish_rps": agg([r["rps"] for r in out["redis_publish"]]),
        "micro_batch": p["micro_batch"],
        "micro_conns": p["micro_conns"],
    }
    return out


# --------------------------------------------------------------------------------------------
# S1: idle memory


def _settled_rss(pids, settle_s, tries=10):
    """Sum of Rss once two samples 0.5 s apart agree within 0.5% (or after `tries`)."""
    time.sleep(settle_s)
    last = None
    for _ in range(tries):
        cur = sum(smaps_rollup(pid).get("Rss", 0) for pid in pids)
        if last is not None and abs(cur - last) <= max(64, 0.005 * cur):
            return cur
        last = cur
        time.sleep(0.5)
    return last


def s1_idle(ctx, p):
    rows = []
    per_server = p["conns_per_server"]
    for size in p["sizes"]:
        for system in p["systems"]:
            reps = []
            for rep in range(p["reps"]):
                ctx.progress("S1", f"{system} {size} idle connections, rep {rep + 1}/{p['reps']}")
                reps.append(_s1_once(ctx, p, system, size, per_server, rep))
            ok = [r for r in reps if not r.get("error")]
            rows.append({
                "system": system, "connections": size, "servers": reps[0]["servers"], "reps": reps,
                "agg": {k: agg([r.get(k) for r in ok]) for k in
                        ("rss_kb_per_conn", "private_kb_per_conn", "sock_mem_bytes_per_conn",
                         "slab_bytes_per_conn", "idle_cpu_pct", "connect_s", "baseline_rss_kb")},
                "failed": len(ok) < len(reps),
                "errors": sorted({r["error"] for r in reps if r.get("error")}),
            })
    return {"rows": rows, "room_size": p["room_size"], "conns_per_server": per_server}


def _s1_once(ctx, p, system, size, per_server, rep):
    servers = max(1, math.ceil(size / per_server))
    clusters = [Cluster(ctx, system, 1, tag=f"-s1-{size}-{rep}-{k}") for k in range(servers)]
    gens = []
    try:
        pids = [c.pids[0] for c in clusters]
        time.sleep(0.5)
        base = {pid: smaps_rollup(pid) for pid in pids}
        base_sock, base_slab = sockstat(), slab_bytes()
        query = query_args(ctx, system)  # may mint a token: not part of the connect time
        t0 = time.monotonic()
        for k, c in enumerate(clusters):
            n = size // servers + (1 if k < size % servers else 0)
            rooms = max(1, math.ceil(n / p["room_size"]))
            # Spread each generator over its own source addresses past ~10k connections.
            sources = [f"127.0.0.{2 + 8 * k + j}" for j in range(8)] if n > 10000 else []
            argv = [ctx.loadgen, "idle", "--protocol", SYSTEMS[system]["protocol"],
                    "--target", c.endpoints[0], "--rooms", str(rooms),
                    "--room-size", str(min(p["room_size"], n)),
                    "--room-prefix", ctx.unique(f"s1{k}"), "--connect-concurrency", "512",
                    "--connect-timeout", str(p["connect_timeout_s"]), "--label", f"s1-{system}-{size}-{k}"]
            if sources:
                argv += ["--source", ",".join(sources)]
            argv += query
            gens.append(Proc(f"loadgen-s1-{system}-{size}-{rep}-{k}", argv, ctx.log_dir,
                             cpus=ctx.gen_cpus, stdin=subprocess.PIPE, capture=True))
        opened = failed = 0
        for g in gens:
            line = g.popen.stdout.readline().decode()
            m = re.match(r"READY opened=(\d+) failed=(\d+)", line)
            if not m:
                raise RuntimeError(f"generator gave no READY line: {line!r} {g.log_text()[-500:]}")
            opened += int(m.group(1))
            failed += int(m.group(2))
        connect_s = time.monotonic() - t0
        if failed:
            raise RuntimeError(f"{failed} of {size} connections failed: {gens[0].log_text()[-300:]}")
        rss = _settled_rss(pids, p["settle_s"], p.get("settle_tries", 10))
        after = {pid: smaps_rollup(pid) for pid in pids}
        sock, slab = sockstat(), slab_bytes()
        cpu0 = [cpu_seconds(pid) for pid in pids]
        t1 = time.monotonic()
        time.sleep(p["hold_s"])
        cpu1 = [cpu_seconds(pid) for pid in pids]
        window = time.monotonic() - t1
        alive = all(c.alive() for c in clusters)
        for g in gens:
            g.popen.stdin.close()
        gen_reports = [ctx.parse_json(g.popen.stdout.read().decode(), g.name) for g in gens]
        base_rss = sum(b.get("Rss", 0) for b in base.values())
        priv = lambda d: d.get("Private_Dirty", 0) + d.get("Private_Clean", 0)
        return {
            "servers": servers, "opened": opened, "connect_s": connect_s, "alive": alive,
            "baseline_rss_kb": base_rss, "rss_kb": rss,
            "rss_kb_per_conn": (rss - base_rss) / opened,
            "private_kb_per_conn": sum(priv(after[pid]) - priv(base[pid]) for pid in pids) / opened,
            # Both ends of every connection live on this machine: kernel figures count both.
            "sock_mem_bytes_per_conn": (sock["TCP"]["mem"] - base_sock["TCP"]["mem"]) * 4096 / opened,
            "tcp_inuse_delta": sock["TCP"]["inuse"] - base_sock["TCP"]["inuse"],
            "slab_bytes_per_conn": (sum(slab.values()) - sum(base_slab.values())) / opened if slab else None,
            "idle_cpu_pct": 100 * sum(b - a for a, b in zip(cpu0, cpu1)) / window,
            "generator_cpu_s": sum(r.get("generator", {}).get("cpu_s", 0) for r in gen_reports),
            "closed_during_hold": sum(r.get("closed_after_open", 0) for r in gen_reports),
        }
    except Exception as e:  # noqa: BLE001 - a failed repetition is reported, not fatal
        return {"servers": servers, "error": str(e)[:300]}
    finally:
        for g in gens:
            if g.alive():
                try:
                    g.popen.stdin.close()
                except OSError:
                    pass
            g.stop()
        for c in clusters:
            c.stop()


# --------------------------------------------------------------------------------------------
# S2 (grid) and S5 (cross-node): fixed rates, repetitions as consecutive measured windows


def _fixed_rate_args(p, reps, bursts):
    return ["--pub-rate", str(p["pub_rate"]), "--settle", str(p["settle_s"]),
            "--warmup", str(p["warmup_s"]), "--step", str(p["step_s"]), "--steps", str(reps),
            "--ramp", "1", "--burst", str(p["burst"]), "--burst-steps", str(bursts),
            "--drain", str(p["drain_s"])]


def _split_steps(report, reps):
    steps = [s for s in report.get("steps", []) if not s["warmup"]]
    return [step_summary(s) for s in steps[:reps]], [step_summary(s) for s in steps[reps:]]


def s2_grid(ctx, p):
    rows = []
    keys = LAT_KEYS + ("delivered_per_s", "samples", "server_cpu_s", "gen_cpu_frac")
    plan = [(sys, n) for sys in p["systems"] for n in p["nodes"]
            if n == 1 or SYSTEMS[sys]["multi_node"]]
    rows_for = lambda n: p["rows"] if n == 1 else p.get("multi_rows", p["rows"])
    total = sum(len(rows_for(n)) for _, n in plan)
    done = 0
    for system, nodes in plan:
        cluster = None
        try:
            cluster = Cluster(ctx, system, nodes, tag="-s2")
            for subs, pubs in rows_for(nodes):
                done += 1
                ctx.progress("S2", f"{system} nodes={nodes} {subs} sub/{pubs} pub ({done}/{total})")
                args = ["--protocol", SYSTEMS[system]["protocol"], "--target", ",".join(cluster.endpoints),
                        "--rooms", "1", "--room-size", str(subs), "--pubs", str(pubs),
                        "--room-prefix", ctx.unique("s2"), "--watch-pid", ",".join(map(str, cluster.pids))]
                args += query_args(ctx, system)
                args += _fixed_rate_args(p, p["reps"], p["reps"] if p["bursts"] else 0)
                rep = ctx.run_loadgen(f"s2-{system}-n{nodes}-{subs}x{pubs}", args)
                steady, burst = _split_steps(rep, p["reps"])
                for mode, reps in (("steady", steady), ("burst", burst)):
                    if mode == "burst" and not p["bursts"]:
                        continue
                    row = {"system": system, "nodes": nodes, "subs": subs, "pubs": pubs, "mode": mode,
                           "reps": reps, "error": rep.get("error") or ("" if reps else "no data")}
                    row["agg"] = aggregate_reps(reps, keys)
                    row.update(row_flags(reps, ctx.gen_cpu_limit) if reps else
                               {"failed": True, "fail_reasons": [row["error"]], "invalid": False})
                    rows.append(row)
        except Exception as e:  # noqa: BLE001
            rows.append({"system": system, "nodes": nodes, "error": str(e)[:300], "failed": True})
        finally:
            if cluster:
                cluster.stop()
    return {"rows": rows, "pub_rate": p["pub_rate"], "burst": p["burst"], "step_s": p["step_s"],
            "reps": p["reps"]}


def s5_cross_node(ctx, p):
    rows = []
    keys = LAT_KEYS + ("delivered_per_s", "samples", "server_cpu_s", "gen_cpu_frac")
    for system in p["systems"]:
        cluster = None
        try:
            cluster = Cluster(ctx, system, 2, tag="-s5")
            a, b = cluster.endpoints
            for subs, pubs in p["rows"]:
                ctx.progress("S5", f"{system} publishers on A, {subs} subscribers on B")
                args = ["--protocol", SYSTEMS[system]["protocol"], "--target", b, "--pub-target", a,
                        "--pubs-separate", "1", "--rooms", "1", "--room-size", str(subs),
                        "--pubs", str(pubs), "--room-prefix", ctx.unique("s5"),
                        "--watch-pid", ",".join(map(str, cluster.pids))]
                args += query_args(ctx, system) + _fixed_rate_args(p, p["reps"], 0)
                rep = ctx.run_loadgen(f"s5-{system}-{subs}x{pubs}", args)
                reps, _ = _split_steps(rep, p["reps"])
                row = {"system": system, "subs": subs, "pubs": pubs, "reps": reps,
                       "error": rep.get("error") or ("" if reps else "no data")}
                row["agg"] = aggregate_reps(reps, keys)
                row.update(row_flags(reps, ctx.gen_cpu_limit) if reps else
                           {"failed": True, "fail_reasons": [row["error"]], "invalid": False})
                rows.append(row)
        except Exception as e:  # noqa: BLE001
            rows.append({"system": system, "error": str(e)[:300], "failed": True})
        finally:
            if cluster:
                cluster.stop()
    return {"rows": rows, "pub_rate": p["pub_rate"]}


# --------------------------------------------------------------------------------------------
# S3: maximum throughput by ramp


def s3_throughput(ctx, p):
    rows = []
    for cfg in p["configs"]:
        for system in p["systems"]:
            reps = []
            start_rate = p.get("start_deliveries", cfg["start_deliveries"]) / cfg["room_size"]
            for rep in range(p["reps"]):
                ctx.progress("S3", f"{system} {cfg['name']} ramp, rep {rep + 1}/{p['reps']}")
                r = _s3_once(ctx, p, cfg, system, start_rate, rep)
                reps.append(r)
                if r.get("last_pass"):
                    # Later repetitions start two steps below the previous ceiling: same ramp, fewer steps.
                    start_rate = max(start_rate, r["last_pass"]["offered_rate"] / p["factor"] ** 2)
            ok = [r for r in reps if r.get("last_pass")]
            row = {"system": system, "config": cfg["name"], "rooms": cfg["rooms"],
                   "room_size": cfg["room_size"], "pubs": cfg["pubs"], "reps": reps,
                   "agg": {
                       "delivered_per_s": agg([r["last_pass"]["delivered_per_s"] for r in ok]),
                       "offered_rate": agg([r["last_pass"]["offered_rate"] for r in ok]),
                       "p99": agg([r["last_pass"]["p99"] for r in ok]),
                       "cpu_s_per_million": agg([r["cpu_s_per_million"] for r in ok]),
                       "gen_cpu_frac": agg([r["last_pass"]["gen_cpu_frac"] for r in ok]),
                   },
                   "generator_bound": any(r.get("stopped_by") == "generator" for r in reps),
                   "failed": not ok,
                   "stopped_by": [r.get("stopped_by") for r in reps]}
            rows.append(row)
    return {"rows": rows, "factor": p["factor"], "step_s": p["step_s"],
            "p99_limit_ms": p["p99_limit_ms"]}


def _s3_once(ctx, p, cfg, system, start_rate, rep):
    cluster = None
    try:
        cluster = Cluster(ctx, system, 1, tag=f"-s3-{cfg['name']}-{rep}")
        args = ["--protocol", SYSTEMS[system]["protocol"], "--target", cluster.endpoints[0],
                "--rooms", str(cfg["rooms"]), "--room-size", str(cfg["room_size"]),
                "--pubs", str(cfg["pubs"]), "--room-prefix", ctx.unique("s3"),
                "--rate", f"{start_rate:.3f}", "--settle", str(p["settle_s"]),
                "--warmup", str(p["warmup_s"]), "--step", str(p["step_s"]),
                "--steps", str(p["max_steps"]), "--ramp", str(p["factor"]),
                "--drain", str(p["drain_s"]), "--p99-limit-ms", str(p["p99_limit_ms"]),
                "--watch-pid", str(cluster.pids[0]), "--connect-concurrency", "512"]
        args += query_args(ctx, system)
        report = ctx.run_loadgen(f"s3-{system}-{cfg['name']}-{rep}", args)
        steps = [step_summary(s) for s in report.get("steps", []) if not s["warmup"]]
        last_pass, stopped_by = None, "max_steps"
        for s in steps:
            if s["gen_cpu_frac"] > ctx.gen_cpu_limit:
                stopped_by = "generator"
                break
            if not s["pass"]:
                stopped_by = s["fail_reason"]
                break
            last_pass = s
        cps = None
        if last_pass and last_pass["delivered"] and last_pass["server_cpu_s"] >= 0:
            cps = last_pass["server_cpu_s"] / last_pass["delivered"] * 1e6
        return {"steps": steps, "last_pass": last_pass, "stopped_by": stopped_by,
                "cpu_s_per_million": cps, "error": report.get("error", ""),
                "connections": report.get("connections")}
    except Exception as e:  # noqa: BLE001
        return {"steps": [], "last_pass": None, "stopped_by": "error", "error": str(e)[:300]}
    finally:
        if cluster:
            cluster.stop()


# --------------------------------------------------------------------------------------------
# S4: HTTP /health with wrk

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk_ms(text):
    m = re.match(r"([0-9.]+)(us|ms|s)$", text)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def parse_wrk(txt):
    out = {"rps": None, "p50_ms": None, "p99_ms": None, "requests": None,
           "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "non_2xx": 0}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", txt)
    if m:
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", txt, re.M)
        if m:
            out[key] = _wrk_ms(m.group(1))
    m = re.search(r"(\d+) requests in", txt)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", txt)
    if m:
        out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
    if m:
        out["non_2xx"] = int(m.group(1))
    return out


def s4_http(ctx, p):
    rows = []
    for system in ("heimdallr", "http"):
        for threads, conns in p["configs"]:
            reps = []
            for rep in range(p["reps"]):
                ctx.progress("S4", f"wrk -t{threads} -c{conns} {system}, rep {rep + 1}/{p['reps']}")
                cluster = None
                try:
                    cluster = Cluster(ctx, system, 1, tag=f"-s4-{conns}-{rep}")
                    url = f"http://{cluster.endpoints[0]}/health"
                    cpu0 = cpu_seconds(cluster.pids[0])
                    t0 = time.monotonic()
                    txt = ctx.run_text(["wrk", f"-t{threads}", f"-c{conns}", f"-d{p['seconds']}s",
                                        "--latency", "--timeout", "5s", url],
                                       label=f"s4-{system}-{conns}-{rep}", cpus=ctx.gen_cpus,
                                       timeout=p["seconds"] + 60)
                    wall = time.monotonic() - t0
                    r = parse_wrk(txt)
                    r["server_cpu_pct"] = 100 * (cpu_seconds(cluster.pids[0]) - cpu0) / wall
                    r["raw"] = txt[-1500:]
                except Exception as e:  # noqa: BLE001
                    r = {"rps": None, "error": str(e)[:300]}
                finally:
                    if cluster:
                        cluster.stop()
                reps.append(r)
            errors = [sum(r.get("socket_errors", {}).values()) + r.get("non_2xx", 0) for r in reps]
            rows.append({"system": system, "threads": threads, "connections": conns, "reps": reps,
                         "agg": {"rps": agg([r.get("rps") for r in reps]),
                                 "p50_ms": agg([r.get("p50_ms") for r in reps]),
                                 "p99_ms": agg([r.get("p99_ms") for r in reps]),
                                 "errors": agg(errors),
                                 "server_cpu_pct": agg([r.get("server_cpu_pct") for r in reps])},
                         "failed": any(r.get("rps") is None for r in reps)})
    return {"rows": rows, "seconds": p["seconds"]}


# --------------------------------------------------------------------------------------------
# S6: protocol v2 (history, presence, recovery) and Socket.IO's connection state recovery


def _ramp_once(ctx, p, cfg, system, nodes, start_rate, tag):
    """An S3-style ramp on `nodes` nodes (members round-robin over them); the servers' CPU counts
    their Redis too (last in server_cpu_s_by_pid)."""
    cluster = None
    try:
        cluster = Cluster(ctx, system, nodes, tag=tag)
        watch = cluster.pids_with_redis
        args = ["--protocol", SYSTEMS[system]["protocol"], "--target", ",".join(cluster.endpoints),
                "--rooms", str(cfg["rooms"]), "--room-size", str(cfg["room_size"]),
                "--pubs", str(cfg["pubs"]), "--room-prefix", ctx.unique("s6"),
                "--rate", f"{start_rate:.3f}", "--settle", str(p["settle_s"]),
                "--warmup", str(p["warmup_s"]), "--step", str(p["step_s"]),
                "--steps", str(p["max_steps"]), "--ramp", str(p["factor"]),
                "--drain", str(p["drain_s"]), "--p99-limit-ms", str(p["p99_limit_ms"]),
                "--watch-pid", ",".join(map(str, watch)), "--connect-concurrency", "512"]
        report = ctx.run_loadgen(f"s6-{system}-n{nodes}-{cfg['name']}{tag}", args)
        steps = []
        for raw in report.get("steps", []):
            if raw["warmup"]:
                continue
            s = step_summary(raw)
            s["server_cpu_s_by_pid"] = raw.get("server_cpu_s_by_pid", [])
            steps.append(s)
        last_pass, stopped_by = None, "max_steps"
        for s in steps:
            if s["gen_cpu_frac"] > ctx.gen_cpu_limit:
                stopped_by = "generator"
                break
            if not s["pass"]:
                stopped_by = s["fail_reason"]
                break
            last_pass = s
        cps = redis_cps = None
        if last_pass and last_pass["delivered"] and last_pass["server_cpu_s"] >= 0:
            cps = last_pass["server_cpu_s"] / last_pass["delivered"] * 1e6
            by_pid = last_pass["server_cpu_s_by_pid"]
            if cluster.redis and len(by_pid) == len(watch) and by_pid[-1] >= 0:
                redis_cps = by_pid[-1] / last_pass["delivered"] * 1e6
        return {"steps": steps, "last_pass": last_pass, "stopped_by": stopped_by,
                "cpu_s_per_million": cps, "redis_cpu_s_per_million": redis_cps,
                "error": report.get("error", ""), "v2": report.get("v2"),
                "connections": report.get("connections")}
    except Exception as e:  # noqa: BLE001
        return {"steps": [], "last_pass": None, "stopped_by": "error", "error": str(e)[:300]}
    finally:
        if cluster:
            cluster.stop()


def _probe(ctx, label, argv):
    """Runs a closed-loop probe of the generator (presence, recovery) and returns its report."""
    try:
        return ctx.parse_json(ctx.run_text([ctx.loadgen] + argv + ["--label", label], label,
                                           cpus=ctx.gen_cpus), label)
    except Exception as e:  # noqa: BLE001
        return {"error": str(e)[:300]}


def _frac(num, den, scale=1.0):
    """scale * num / den; None when either is missing or unreadable (negative)."""
    return scale * num / den if num is not None and den and num >= 0 else None


def s6_v2(ctx, p):
    out = {"throughput": [], "presence": [], "recovery": [], "factor": p["factor"], "step_s": p["step_s"],
           "p99_limit_ms": p["p99_limit_ms"], "missed": p["missed"], "reps": p["reps"],
           "presence_members": p["presence_members"], "presence_calls": p["presence_calls"],
           "recovery_cycles": p["recovery_cycles"], "history_size": 1000}

    # 1. Throughput: S3's ramp with v2 clients in a room with history, next to raw heimdallr.
    plan = [(cfg, n, s) for cfg in p["configs"] for n in p["nodes"]
            for s in (p["systems"] if n == 1 else p.get("multi_systems", p["systems"]))
            if n == 1 or SYSTEMS[s]["multi_node"]]
    for k, (cfg, nodes, system) in enumerate(plan):
        reps = []
        start_rate = p.get("start_deliveries", cfg["start_deliveries"]) / cfg["room_size"]
        for rep in range(p["reps"]):
            ctx.progress("S6", f"throughput {system} nodes={nodes} {cfg['name']} ramp, rep {rep + 1}/{p['reps']} "
                               f"({k + 1}/{len(plan)})")
            r = _ramp_once(ctx, p, cfg, system, nodes, start_rate, f"-{rep}")
            reps.append(r)
            if r.get("last_pass"):
                start_rate = max(start_rate, r["last_pass"]["offered_rate"] / p["factor"] ** 2)
        ok = [r for r in reps if r.get("last_pass")]
        out["throughput"].append({
            "system": system, "nodes": nodes, "config": cfg["name"], "rooms": cfg["rooms"],
            "room_size": cfg["room_size"], "pubs": cfg["pubs"], "reps": reps,
            "agg": {
                "delivered_per_s": agg([r["last_pass"]["delivered_per_s"] for r in ok]),
                "offered_rate": agg([r["last_pass"]["offered_rate"] for r in ok]),
                "p50": agg([r["last_pass"]["p50"] for r in ok]),
                "p99": agg([r["last_pass"]["p99"] for r in ok]),
                "cpu_s_per_million": agg([r["cpu_s_per_million"] for r in ok]),
                "redis_cpu_s_per_million": agg([r.get("redis_cpu_s_per_million") for r in ok]),
                "gen_cpu_frac": agg([r["last_pass"]["gen_cpu_frac"] for r in ok]),
            },
            "generator_bound": any(r.get("stopped_by") == "generator" for r in reps),
            "failed": not ok, "stopped_by": [r.get("stopped_by") for r in reps]})

    # 2. Presence: members join a room that keeps presence, then `presence` commands.
    for nodes in p["presence_nodes"]:
        reps = []
        for rep in range(p["reps"]):
            ctx.progress("S6", f"presence: {p['presence_members']} members join, nodes={nodes}, "
                               f"rep {rep + 1}/{p['reps']}")
            cluster = None
            try:
                cluster = Cluster(ctx, "heimdallr_v2_presence", nodes, tag=f"-s6p-{rep}")
                r = _probe(ctx, f"s6-presence-n{nodes}-{rep}", [
                    "presence", "--target", ",".join(cluster.endpoints), "--room", ctx.unique("s6p"),
                    "--members", str(p["presence_members"]), "--calls", str(p["presence_calls"]),
                    "--warmup-reps", str(p.get("presence_warmup", 5)), "--connect-concurrency", "256",
                    "--timeout", str(p.get("timeout_s", 20)),
                    "--watch-pid", ",".join(map(str, cluster.pids_with_redis))])
                r["alive"] = cluster.alive()
            except Exception as e:  # noqa: BLE001
                r = {"error": str(e)[:300]}
            finally:
                if cluster:
                    cluster.stop()
            reps.append(r)
        ok = [r for r in reps if not r.get("error")]
        jc = lambda r: r.get("join_cpu", {})
        pc = lambda r: r.get("presence_cpu", {})
        out["presence"].append({
            "system": "heimdallr_v2_presence", "nodes": nodes, "members": p["presence_members"],
            "calls": p["presence_calls"], "reps": reps,
            "agg": {
                "connect_s": agg([r.get("connect_s") for r in ok]),
                "join_wall_s": agg([r.get("join_wall_s") for r in ok]),
                "join_p50": agg([r["join_ms"]["p50"] for r in ok]),
                "join_p99": agg([r["join_ms"]["p99"] for r in ok]),
                "join_members_last": agg([r.get("join_members_last") for r in ok]),
                "join_reply_mb": agg([r.get("join_reply_bytes", 0) / 1e6 for r in ok]),
                "join_cpu_s": agg([jc(r).get("server_cpu_s") for r in ok]),
                "presence_p50": agg([r["presence_ms"]["p50"] for r in ok]),
                "presence_p99": agg([r["presence_ms"]["p99"] for r in ok]),
                "presence_members_min": agg([r.get("presence_members_min") for r in ok]),
                "presence_cpu_ms_per_call": agg([_frac(pc(r).get("server_cpu_s"), r.get("calls"), 1e3)
                                                 for r in ok]),
                "join_wait": agg([_frac(jc(r).get("server_runq_wait_s"), jc(r).get("window_s")) for r in ok]),
                "join_gen_wait": agg([_frac(jc(r).get("gen_runq_wait_s"), jc(r).get("window_s")) for r in ok]),
                "presence_wait": agg([_frac(pc(r).get("server_runq_wait_s"), pc(r).get("window_s")) for r in ok]),
                "presence_gen_wait": agg([_frac(pc(r).get("gen_runq_wait_s"), pc(r).get("window_s")) for r in ok]),
            },
            "failed": len(ok) < len(reps) or any(r.get("presence_mismatches") for r in ok),
            "errors": sorted({r["error"] for r in reps if r.get("error")})})

    # 3. Recovery: a member misses `missed` messages while away and gets them back on reconnect.
    plan = [(s, n) for s in p["recovery_systems"] for n in p["recovery_nodes"]
            if n == 1 or SYSTEMS[s]["multi_node"]]
    for system, nodes in plan:
        reps = []
        for rep in range(p["reps"]):
            ctx.progress("S6", f"recovery of {p['missed']} missed messages: {system} nodes={nodes}, "
                               f"rep {rep + 1}/{p['reps']}")
            cluster = None
            try:
                cluster = Cluster(ctx, system, nodes, tag=f"-s6r-{rep}")
                r = _probe(ctx, f"s6-recovery-{system}-n{nodes}-{rep}", [
                    "recovery", "--protocol", SYSTEMS[system]["protocol"],
                    "--target", ",".join(cluster.endpoints), "--room", ctx.unique("s6r"),
                    "--reps", str(p["recovery_cycles"]), "--warmup-reps", str(p.get("recovery_warmup", 3)),
                    "--missed", str(p["missed"]), "--pause", str(p["pause_s"]), "--size", str(ctx.payload),
                    "--timeout", str(p.get("timeout_s", 20)),
                    "--watch-pid", ",".join(map(str, cluster.pids_with_redis))])
                r["alive"] = cluster.alive()
            except Exception as e:  # noqa: BLE001
                r = {"error": str(e)[:300]}
            finally:
                if cluster:
                    cluster.stop()
            reps.append(r)
        ok = [r for r in reps if not r.get("error") and r.get("measured")]
        rc = lambda r: r.get("recovery_cpu", {})
        run = lambda r: r.get("run_cpu", {})
        # p50/p99 over every measured cycle of every repetition
        req = sorted(c["request_ms"] for r in ok for c in r.get("cycles", []))
        tot = sorted(c["total_ms"] for r in ok for c in r.get("cycles", []))
        pct = lambda v, q: v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))] if v else None
        out["recovery"].append({
            "system": system, "nodes": nodes, "missed": p["missed"], "reps": reps,
            "agg": {
                "cycles": sum(r.get("measured", 0) for r in ok),
                "failed_cycles": sum(r.get("failed", 0) for r in ok),
                "request_p50": pct(req, 50), "request_p99": pct(req, 99), "request_max": req[-1] if req else None,
                "total_p50": pct(tot, 50), "total_p99": pct(tot, 99),
                "cpu_ms_per_recovery": agg([_frac(rc(r).get("server_cpu_s"), rc(r).get("windows"), 1e3)
                                            for r in ok]),
                "cpu_ms_per_cycle": agg([_frac(run(r).get("server_cpu_s"), r.get("measured"), 1e3)
                                         for r in ok]),
                "wait": agg([_frac(run(r).get("server_runq_wait_s"), run(r).get("window_s")) for r in ok]),
                "gen_wait": agg([_frac(run(r).get("gen_runq_wait_s"), run(r).get("window_s")) for r in ok]),
            },
            "failed": len(ok) < len(reps) or any(r.get("failed") for r in ok),
            "errors": sorted({r.get("error") or r.get("first_failure") or "" for r in reps
                              if r.get("error") or r.get("failed")})})
    return out
