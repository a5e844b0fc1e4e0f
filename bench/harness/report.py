"""latest.md (markdown tables with ratio columns) and PNG plots (gnuplot) from a results dict."""

import os
import shutil
import subprocess

TITLES = {"heimdallr": "heimdallr", "heimdallr_auth": "heimdallr, auth on", "socketio": "Socket.IO", "ws": "ws",
          "http": "Node http", "heimdallr_v2": "heimdallr v2, history on",
          "heimdallr_v2_nohist": "heimdallr v2, no history", "heimdallr_v2_presence": "heimdallr v2, presence on",
          "socketio_csr": "Socket.IO, state recovery"}
PEERS = ["socketio", "ws"]


def _med(a):
    return a["median"] if a else None


def _fmt(v, digits=3):
    if v is None:
        return "–"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def cell(a, digits=3):
    """median, with (min–max) when there were several repetitions."""
    if not a:
        return "–"
    if a.get("n", 1) > 1 and a["min"] != a["max"]:
        return f"{_fmt(a['median'], digits)} ({_fmt(a['min'], digits)}–{_fmt(a['max'], digits)})"
    return _fmt(a["median"], digits)


# Our own systems: heimdallr and its variants (auth on). Ratios and losses are against peers only.
OURS = ("heimdallr", "heimdallr_auth", "heimdallr_v2", "heimdallr_v2_nohist", "heimdallr_v2_presence")
# S6: which of our rows each peer row is compared with (the same feature on both sides).
S6_COUNTERPART = {"socketio": "heimdallr", "socketio_csr": "heimdallr_v2"}


def ratio(ours, theirs, higher_is_better):
    """heimdallr's advantage: >1 means heimdallr is better, <1 that it loses (marked)."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return "–", None
    r = ours / theirs if higher_is_better else theirs / ours
    text = f"{r:.2f}×"
    return (f"**{text} loses**" if r < 1 else text), r


def _status(row):
    flags = []
    if row.get("failed"):
        flags.append("FAILED" + (f" ({'; '.join(row.get('fail_reasons') or [])[:120]})"
                                 if row.get("fail_reasons") else ""))
    if row.get("invalid"):
        flags.append("INVALID (generator > 80% CPU)")
    if row.get("generator_bound"):
        flags.append("generator-bound: ceiling is higher")
    return ", ".join(flags) or "ok"


def _wait(reps):
    """Share of the measured windows the server / generator spent runnable but waiting for a CPU
    (schedstat run_delay): high values mean other work on the machine held the CPU."""
    def frac(key):
        vals = [r[key] / r["cpu_window_s"] for r in reps
                if r.get(key) is not None and r[key] >= 0 and r.get("cpu_window_s")]
        return f"{max(vals):.0%}" if vals else "?"
    return f"{frac('server_runq_wait_s')}/{frac('gen_runq_wait_s')}"


class Md:
    def __init__(self):
        self.lines = []

    def p(self, text=""):
        self.lines.append(text)

    def table(self, header, rows):
        self.p("| " + " | ".join(header) + " |")
        self.p("|" + "|".join(" --- " for _ in header) + "|")
        for r in rows:
            self.p("| " + " | ".join(str(c) for c in r) + " |")
        self.p()


def write_markdown(results, path, json_name):
    md = Md()
    env = results["environment"]
    prof = results["profile"]
    losses = []
    md.p(f"# heimdallr benchmark: {prof} run, {env['date'][:10]}, {env['host']}")
    md.p()
    md.p(f"Raw data: `{json_name}`. Profile `{prof}` took {results['duration_s']:.0f} s. Every system ran on "
         "this machine, in this run, driven by the same generator (`heimdallr_loadgen`, one epoll "
         f"thread) with the same {env['payload_bytes']}-byte payload. Cells are the median of the "
         "repetitions with (min–max). The × columns are heimdallr's advantage over that peer: above 1 "
         "heimdallr is better (lower latency or memory, higher throughput), below 1 it **loses**.")
    md.p()
    pin = env["pinning"]
    md.p(f"- Machine: {env['cpu_model']}, {env['cpus_online']} CPUs, {(env['mem_total_kb'] or 0) // 1048576} GiB, "
         f"{env['os']}, kernel {env['kernel']}; open files {env['ulimits']['nofile_soft']}/"
         f"{env['ulimits']['nofile_hard']} (soft/hard).")
    md.p(f"- Pinning: " + (f"generator and wrk on CPU {pin['generator_and_wrk_cpus']}, servers and Redis on "
                          f"CPU {pin['server_and_redis_cpus']} (taskset); heimdallr runs "
                          f"{pin['heimdallr_io_threads']} I/O loop(s)" if pin["enabled"] else "none"))
    v = env["versions"]
    npm = v.get("npm_packages", {})
    md.p(f"- Versions: heimdallr {v.get('heimdallr')}, Node {v.get('node')}, socket.io {npm.get('socket.io')}, "
         f"ws {npm.get('ws')}, @socket.io/redis-adapter {npm.get('@socket.io/redis-adapter')}, "
         f"{(v.get('redis') or '').split(' sha')[0]}, {v.get('wrk')}.")
    md.p(f"- Load average at start / end: `{env.get('loadavg_start')}` / `{env.get('loadavg_end')}`. "
         "A load above the CPU count means other work shared the machine and timings are noisy.")
    for key, src in sorted(results.get("sources", {}).items()):
        md.p(f"- **{key} comes from another run** on this machine: `{src['json']}` (profile `{src['profile']}`, "
             f"{src['date']}, heimdallr {src.get('heimdallr')}, load average `{src.get('loadavg_start')}` / "
             f"`{src.get('loadavg_end')}`). Compare its rows with each other, not with the other sections.")
    md.p()

    sc = results["scenarios"]
    ceil = sc.get("S0", {}).get("agg", {})
    fan1 = _med(ceil.get("one_send_per_recipient"))
    fanc = _med(ceil.get("coalesced"))
    rps_redis = _med(ceil.get("redis_publish_rps"))

    if "S0" in sc:
        md.p("## S0 ceilings")
        md.p()
        md.table(["ceiling", "value"], [
            [f"loopback fan-out, one `send` per recipient ({ceil.get('micro_conns')} sockets; sender on "
             "the servers' CPU, reader on the generator's)",
             cell(ceil.get("one_send_per_recipient")) + " deliveries/s"],
            [f"loopback fan-out, {ceil.get('micro_batch')} messages coalesced per `send`",
             cell(ceil.get("coalesced")) + " deliveries/s"],
            ["`redis-benchmark` PUBLISH (50 clients, one subscriber)", cell(ceil.get("redis_publish_rps")) + " publishes/s"],
        ])
        md.p("Later sections quote delivered messages/s as a fraction of the first two, and multi-node "
             "bus traffic as a fraction of Redis' PUBLISH rate. The one-send figure includes waking a "
             "sleeping reader for every message; a server that coalesces several messages per `send` "
             "(as heimdallr's writev flush does under load) can exceed it, but not the coalesced one "
             "by much. Both are wall-clock rates on the same shared CPUs as the servers.")
        md.p()

    if "S1" in sc:
        md.p("## S1 idle memory (rooms of %d)" % sc["S1"]["room_size"])
        md.p()
        rows, by = [], {}
        for r in sc["S1"]["rows"]:
            by[(r["connections"], r["system"])] = r
        for r in sc["S1"]["rows"]:
            a = r["agg"]
            ours = by.get((r["connections"], "heimdallr"))
            rat = "–"
            if r["system"] not in OURS and ours:
                rat, rv = ratio(_med(ours["agg"]["rss_kb_per_conn"]), _med(a["rss_kb_per_conn"]), False)
                if rv is not None and rv < 1:
                    losses.append(f"S1 idle memory at {r['connections']:,} connections vs {TITLES[r['system']]}: {rv:.2f}×")
            rows.append([f"{r['connections']:,}", TITLES[r["system"]], r["servers"],
                         cell(a["rss_kb_per_conn"]), cell(a["private_kb_per_conn"]),
                         cell(a["sock_mem_bytes_per_conn"]), cell(a["slab_bytes_per_conn"]),
                         cell(a["idle_cpu_pct"]), cell(a["connect_s"]), rat,
                         "FAILED: " + "; ".join(r["errors"])[:150] if r["failed"] else "ok"])
        md.table(["connections", "system", "processes", "RSS KiB/conn", "private KiB/conn",
                  "kernel TCP mem B/conn", "socket slab B/conn", "idle CPU %", "connect s",
                  "× RSS", "status"], rows)
        md.p(f"Server RSS is the settled `/proc/PID/smaps_rollup` Rss minus that of the fresh process. "
             f"Kernel figures (`/proc/net/sockstat` TCP mem pages, and the TCP/sock_inode/skbuff slabs) "
             f"count both ends of each connection, since the clients run on the same machine, and other "
             f"work on the machine moves them too. The per-process limit of 20,000 open files applies to "
             f"the servers as well as the generators: more than {sc['S1']['conns_per_server']:,} connections are "
             f"spread over several server processes of the same system (column *processes*), each "
             f"driven by its own generator process; the per-connection figure is the sum over them.")
        md.p()

    if "S2" in sc:
        s2 = sc["S2"]
        md.p(f"## S2 latency grid (one room; {s2['pub_rate']} msg/s per publisher; bursts: {s2['burst']} "
             f"messages per publisher at once, same mean rate)")
        md.p()
        md.p("Latency is measured from the *intended* send time of each message to its arrival, at "
             "every member (publishers are members too), so a late generator or a server backlog "
             "counts (no coordinated omission). "
             f"{s2['reps']} repetition(s) of {s2['step_s']} s each, consecutive windows on the same connections.")
        md.p()
        _latency_tables(md, s2["rows"], losses, "S2", fan1, fanc, rps_redis, grid=True)
        multi = [r for r in s2["rows"] if r.get("nodes", 1) > 1 and "agg" in r]
        if multi and rps_redis:
            busiest = max(r["pubs"] * s2["pub_rate"] for r in multi)
            md.p(f"Multi-node rows publish at most {busiest:g} msgs/s through Redis, {busiest / rps_redis:.2%} "
                 f"of its measured PUBLISH ceiling: the Redis hop's cost here is latency, not capacity.")
            md.p()
        md.p("*of fan-out ceiling* is delivered msgs/s over S0's two loopback figures. "
             "*CPU wait srv/gen* is the largest share of a window that the servers / the generator spent "
             "runnable but waiting for a CPU (other work on the machine). In burst rows the generator "
             "must read the whole burst on its one core, so their tails include its own reading time.")
        md.p()

    if "S3" in sc:
        s3 = sc["S3"]
        md.p(f"## S3 maximum throughput (offered rate ×{s3['factor']} every {s3['step_s']} s until p99 > "
             f"{s3['p99_limit_ms']:.0f} ms or any loss)")
        md.p()
        rows, by = [], {(r["config"], r["system"]): r for r in s3["rows"]}
        for r in s3["rows"]:
            a = r["agg"]
            ours = by.get((r["config"], "heimdallr"))
            rat = cpu_rat = "–"
            if r["system"] not in OURS and ours:
                rat, rv = ratio(_med(ours["agg"]["delivered_per_s"]), _med(a["delivered_per_s"]), True)
                cpu_rat, cv = ratio(_med(ours["agg"]["cpu_s_per_million"]), _med(a["cpu_s_per_million"]), False)
                if rv is not None and rv < 1:
                    losses.append(f"S3 throughput {r['config']} vs {TITLES[r['system']]}: {rv:.2f}×")
                if cv is not None and cv < 1:
                    losses.append(f"S3 CPU per delivery {r['config']} vs {TITLES[r['system']]}: {cv:.2f}×")
            d = _med(a["delivered_per_s"])
            frac = f"{d / fan1:.0%} / {d / fanc:.0%}" if d and fan1 and fanc else "–"
            shape = f"{r['rooms']}×{r['room_size']}" if r["rooms"] > 1 else f"1×{r['room_size']}"
            lp = [rep["last_pass"] for rep in r["reps"] if rep.get("last_pass")]
            if r["system"] in OURS and r.get("failed"):
                losses.append(f"S3 {TITLES[r['system']]} {r['config']}: no passing step ({'; '.join(map(str, r['stopped_by']))})")
            rows.append([shape, r["pubs"] * r["rooms"], TITLES[r["system"]], cell(a["delivered_per_s"]),
                         cell(a["offered_rate"]), cell(a["p99"]), cell(a["cpu_s_per_million"]),
                         cell(a["gen_cpu_frac"]), _wait(lp) if lp else "–", frac, rat, cpu_rat,
                         "; ".join(sorted({str(x) for x in r["stopped_by"]}))[:80], _status(r)])
        md.table(["rooms×members", "publishers", "system", "delivered msgs/s (last passing step)",
                  "offered msgs/s", "p99 ms", "server CPU-s per 1M deliveries", "generator CPU (cores)",
                  "CPU wait srv/gen", "of fan-out ceiling (1 send / coalesced)", "× throughput", "× CPU",
                  "stopped by", "status"], rows)
        md.p("A delivery is one message arriving at one member. *CPU wait* is the share of the step "
             "the server's (generator's) threads were runnable but waiting for a CPU held by other work "
             "(schedstat); on a shared machine it, not the code, can set the ceiling. "
             "*Stopped by* is what ended the ramp: "
             "the first failing step (p99, loss, closed connections), `generator` when the generator "
             "itself passed 80% of its core (the server's ceiling is then higher than shown, and the row "
             "is marked), or `max_steps`.")
        md.p()

    if "S4" in sc:
        md.p(f"## S4 HTTP: wrk on /health ({sc['S4']['seconds']} s per run)")
        md.p()
        rows, by = [], {(r["connections"], r["system"]): r for r in sc["S4"]["rows"]}
        for r in sc["S4"]["rows"]:
            a = r["agg"]
            ours = by.get((r["connections"], "heimdallr"))
            rat = "–"
            if r["system"] not in OURS and ours:
                rat, rv = ratio(_med(ours["agg"]["rps"]), _med(a["rps"]), True)
                if rv is not None and rv < 1:
                    losses.append(f"S4 req/s at -c{r['connections']} vs Node http: {rv:.2f}×")
                for k in ("p50_ms", "p99_ms"):
                    _, lv = ratio(_med(ours["agg"][k]), _med(a[k]), False)
                    if lv is not None and lv < 1:
                        losses.append(f"S4 {k[:3]} at -c{r['connections']} vs Node http: {lv:.2f}×")
            rps = _med(a["rps"])
            rows.append([f"-t{r['threads']} -c{r['connections']}", TITLES[r["system"]], cell(a["rps"]),
                         cell(a["p50_ms"]), cell(a["p99_ms"]), cell(a["errors"]), cell(a["server_cpu_pct"]),
                         f"{rps / fan1:.0%}" if rps and fan1 else "–", rat, "FAILED" if r["failed"] else "ok"])
        md.table(["wrk", "server", "req/s", "p50 ms", "p99 ms", "socket errors + non-2xx",
                  "server CPU %", "of 1-send ceiling", "× req/s", "status"], rows)
        md.p("Every response costs the server at least one `send`, so S0's one-send-per-recipient rate "
             "is the reference here. wrk runs on the generator's CPU.")
        md.p()

    if "S5" in sc:
        md.p("## S5 cross-node (publishers on node A, every subscriber on node B, one Redis)")
        md.p()
        md.p("Publishers are separate connections here and not counted as subscribers. Compare with "
             "the same row at one node in S2 to see what the Redis hop costs.")
        md.p()
        _latency_tables(md, sc["S5"]["rows"], losses, "S5", fan1, fanc, rps_redis, grid=False)

    if "S6" in sc:
        _s6_tables(md, sc["S6"], losses, results.get("sources", {}).get("S6"))

    md.p("## Where heimdallr loses")
    md.p()
    if losses:
        for l in losses:
            md.p(f"- {l}")
    else:
        md.p("- Nowhere in this run's measured figures.")
    md.p()
    md.p("## Validity")
    md.p()
    md.p("- A row is **FAILED** when any message was lost or duplicated, a connection closed, or (S3) "
         "the ramp's first step already failed; its latency figures are shown but must not be quoted.")
    md.p("- A row is **INVALID** when the generator used more than 80% of its core: it, not the server, "
         "may have been the bottleneck.")
    md.p("- Quote these figures only together with this machine's description; never against figures "
         "from another machine except as a labelled reference.")
    with open(path, "w") as f:
        f.write("\n".join(md.lines) + "\n")
    return path


def _pct(v):
    return f"{v:.0%}" if v is not None else "?"


def _s6_tables(md, s6, losses, source=None):
    md.p("## S6 protocol v2: history, presence, recovery")
    md.p()
    if source:
        md.p(f"From the run `{source['json']}` ({source['profile']} profile, {source['date']}), not the run "
             "of the sections above: its rows compare with each other only.")
        md.p()
    md.p(f"v2 clients (`heimdallr_loadgen --protocol v2`: upgrade on `/` with `heimdallr.v2`, `connect`, "
         f"`join`, every message a `publish` whose `data` is the same payload as a JSON string, acknowledged "
         f"with its offset) in rooms keeping history (`history.size={s6.get('history_size', 1000)}`, "
         "`join_messages=0`), next to raw heimdallr and Socket.IO, with and without connection state recovery "
         "(in-memory adapter, one node only). Two nodes share one Redis; their server CPU counts Redis too.")
    md.p()
    rows = s6.get("throughput", [])
    if rows:
        md.p(f"### Throughput (offered rate ×{s6['factor']} every {s6['step_s']} s until p99 > "
             f"{s6['p99_limit_ms']:.0f} ms or any loss)")
        md.p()
        by = {(r["nodes"], r["config"], r["system"]): r for r in rows}
        out = []
        for r in rows:
            a = r["agg"]
            raw = by.get((r["nodes"], r["config"], "heimdallr"))
            vs_raw = "–"
            if r["system"] in OURS and r["system"] != "heimdallr" and raw:
                d, dr = _med(a["delivered_per_s"]), _med(raw["agg"]["delivered_per_s"])
                c, cr = _med(a["cpu_s_per_million"]), _med(raw["agg"]["cpu_s_per_million"])
                vs_raw = (f"{d / dr:.2f}× / {c / cr:.2f}×" if d and dr and c and cr else "–")
            rat = "–"
            ours = by.get((r["nodes"], r["config"], S6_COUNTERPART.get(r["system"], "")))
            if r["system"] not in OURS and ours:
                t, tv = ratio(_med(ours["agg"]["delivered_per_s"]), _med(a["delivered_per_s"]), True)
                c, cv = ratio(_med(ours["agg"]["cpu_s_per_million"]), _med(a["cpu_s_per_million"]), False)
                rat = f"{t} / {c} (vs {TITLES[ours['system']]})"
                for name, v in (("throughput", tv), ("CPU per delivery", cv)):
                    if v is not None and v < 1:
                        losses.append(f"S6 {name} {r['config']} {TITLES[ours['system']]} vs "
                                      f"{TITLES[r['system']]}: {v:.2f}×")
            if r["system"] in OURS and r.get("failed"):
                losses.append(f"S6 {TITLES[r['system']]} {r['nodes']} node(s) {r['config']}: no passing step "
                              f"({'; '.join(map(str, r['stopped_by']))})")
            lp = [rep["last_pass"] for rep in r["reps"] if rep.get("last_pass")]
            out.append([r["nodes"], f"{r['rooms']}×{r['room_size']}", r["pubs"] * r["rooms"], TITLES[r["system"]],
                        cell(a["delivered_per_s"]), cell(a["offered_rate"]), cell(a["p50"]), cell(a["p99"]),
                        cell(a["cpu_s_per_million"]), cell(a["redis_cpu_s_per_million"]) if r["nodes"] > 1 else "–",
                        cell(a["gen_cpu_frac"]), _wait(lp) if lp else "–", vs_raw, rat,
                        "; ".join(sorted({str(x) for x in r["stopped_by"]}))[:80], _status(r)])
        md.table(["nodes", "rooms×members", "publishers", "system", "delivered msgs/s (last passing step)",
                  "offered msgs/s", "p50 ms", "p99 ms", "server CPU-s per 1M deliveries (with Redis)",
                  "of which Redis", "generator CPU (cores)", "CPU wait srv/gen",
                  "throughput / CPU per delivery vs raw heimdallr", "× throughput / × CPU", "stopped by",
                  "status"], out)
        md.p("*vs raw heimdallr* is the plain ratio of this row to the raw row of the same shape and node "
             "count (throughput below 1 and CPU above 1 are what v2 and history cost). The × columns on a "
             "peer's row are heimdallr's advantage over it, against the row with the same feature: Socket.IO "
             "against raw heimdallr, Socket.IO with state recovery against heimdallr v2 with history. "
             "At 2 nodes both nodes and Redis share the servers' CPU(s), so *CPU wait srv* (summed over the "
             "three processes) passes 100% from their waiting for each other, not only for other work.")
        md.p()

    rows = s6.get("presence", [])
    if rows:
        md.p(f"### Presence: {s6['presence_members']:,} v2 members join one room (presence on), then "
             f"{s6['presence_calls']} `presence` commands")
        md.p()
        out = []
        for r in rows:
            a = r["agg"]
            if r.get("failed"):
                losses.append(f"S6 presence at {r['nodes']} node(s) failed: {'; '.join(r.get('errors') or [])}")
            out.append([r["nodes"], f"{r['members']:,}", cell(a["connect_s"]), cell(a["join_wall_s"]),
                        f"{cell(a['join_p50'])} / {cell(a['join_p99'])}", cell(a["join_members_last"]),
                        cell(a["join_reply_mb"]), cell(a["join_cpu_s"]),
                        f"{cell(a['presence_p50'])} / {cell(a['presence_p99'])}",
                        cell(a["presence_members_min"]), cell(a["presence_cpu_ms_per_call"]),
                        f"{_pct(_med(a['join_wait']))}/{_pct(_med(a['join_gen_wait']))}; "
                        f"{_pct(_med(a['presence_wait']))}/{_pct(_med(a['presence_gen_wait']))}",
                        "FAILED: " + "; ".join(r.get("errors") or ["member count mismatch"])[:150]
                        if r.get("failed") else "ok"])
        md.table(["nodes", "members", "connect s", "all joins s", "join p50 / p99 ms", "members in the last join reply",
                  "join replies MB", "server CPU-s, joins (with Redis)", "presence p50 / p99 ms",
                  "members per presence reply (min)", "server CPU ms per presence", "CPU wait srv/gen (joins; presence)",
                  "status"], out)
        md.p("Every member connects first (`connect`, 256 at a time); then all send `join` at once. *all joins s* "
             "runs from the first `join` sent to the last reply; each reply lists the members so far, so the "
             "replies grow with the room (*join replies MB*, O(members²) in all). `presence` commands then go "
             "one at a time, from members in turn (on every node). Socket.IO has no presence of its own "
             "(`fetchSockets()` is the nearest), so this table has no peer.")
        md.p()

    rows = s6.get("recovery", [])
    if rows:
        md.p(f"### Recovery of {s6['missed']} missed messages ({s6['recovery_cycles']} cycles per repetition)")
        md.p()
        by = {(r["nodes"], r["system"]): r for r in rows}
        out = []
        for r in rows:
            a = r["agg"]
            rat = "–"
            ours = by.get((r["nodes"], S6_COUNTERPART.get(r["system"], "")))
            if r["system"] not in OURS and ours:
                t99, v99 = ratio(ours["agg"]["request_p99"], a["request_p99"], False)
                t50, v50 = ratio(ours["agg"]["request_p50"], a["request_p50"], False)
                rat = f"{t50} / {t99}"
                for name, v in (("p50", v50), ("p99", v99)):
                    if v is not None and v < 1:
                        losses.append(f"S6 recovery {name} vs {TITLES[r['system']]}: {v:.2f}×")
            if r["system"] in OURS and r.get("failed"):
                losses.append(f"S6 recovery {TITLES[r['system']]} at {r['nodes']} node(s) failed: "
                              f"{'; '.join(r.get('errors') or [])}")
            out.append([r["nodes"], TITLES[r["system"]], a["cycles"], a["cycles"] - a["failed_cycles"],
                        f"{_fmt(a['request_p50'])} / {_fmt(a['request_p99'])} / {_fmt(a['request_max'])}",
                        f"{_fmt(a['total_p50'])} / {_fmt(a['total_p99'])}", cell(a["cpu_ms_per_recovery"]),
                        cell(a["cpu_ms_per_cycle"]), f"{_pct(_med(a['wait']))}/{_pct(_med(a['gen_wait']))}", rat,
                        "FAILED: " + "; ".join(r.get("errors") or [])[:150] if r.get("failed") else "ok"])
        md.table(["nodes", "system", "cycles", "recovered in full", "request → recovered p50 / p99 / max ms",
                  "reconnect → recovered p50 / p99 ms", "server CPU ms per recovery (with Redis)",
                  "server CPU ms per cycle (101 publishes + recovery)", "CPU wait srv/gen", "× p50 / × p99",
                  "status"], out)
        md.p("Each cycle: a publisher (on the first node) sends a marker the member receives (its position); "
             f"the member's socket is dropped without a close frame; the publisher sends {s6['missed']} messages "
             "and waits for its own echoes (v2: and their acknowledgements); 50 ms later the member reconnects, "
             "to the next node in turn, and asks for what it missed. *request → recovered*: heimdallr v2 from the "
             "`join` with `since` to its reply holding the messages (one frame); Socket.IO from the namespace "
             "CONNECT with `pid` and `offset` to the last missed event (one frame each; they may come before "
             "the CONNECT reply). *reconnect → recovered* adds the TCP connect, the upgrade and (v2) `connect`. "
             "A cycle counts as recovered only with exactly the missed messages, in order. Per-recovery CPU "
             "comes from schedstat run time (ns) over each reconnect window.")
        md.p()


def _latency_tables(md, rows, losses, key, fan1, fanc, rps_redis, grid):
    header = ["nodes"] if grid else []
    header += ["subs/pubs", "mode", "system", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
               "samples", "delivered msgs/s", "of fan-out ceiling (1 send / coalesced)", "lost", "dup",
               "CPU wait srv/gen",
               "× p99", "status"]
    by = {}
    for r in rows:
        if "agg" in r:
            by[(r.get("nodes"), r["subs"], r["pubs"], r.get("mode", "steady"), r["system"])] = r
    out = []
    for r in rows:
        if "agg" not in r:
            out.append(([r.get("nodes", "")] if grid else []) +
                       ["–", "–", TITLES.get(r["system"], r["system"])] + ["–"] * 11 + [f"FAILED: {r.get('error')}"])
            continue
        a = r["agg"]
        mode = r.get("mode", "steady")
        ours = by.get((r.get("nodes"), r["subs"], r["pubs"], mode, "heimdallr"))
        rat = "–"
        if r["system"] not in OURS and ours:
            rat, rv = ratio(_med(ours["agg"]["p99"]), _med(a["p99"]), False)
            _, mv = ratio(_med(ours["agg"]["p50"]), _med(a["p50"]), False)
            where = f"{r['nodes']} node(s), " if grid else ""
            for name, v in (("p99", rv), ("p50", mv)):
                if v is not None and v < 1:
                    losses.append(f"{key} {name} {where}{r['subs']}/{r['pubs']} {mode} vs "
                                  f"{TITLES[r['system']]}: {v:.2f}×")
        if r["system"] in OURS and r.get("failed"):
            losses.append(f"{key} {TITLES[r['system']]} row failed: {r.get('nodes', 2)} node(s), {r['subs']}/{r['pubs']} "
                          f"{mode}: {'; '.join(r.get('fail_reasons') or [])}")
        d = _med(a["delivered_per_s"])
        out.append(([r["nodes"]] if grid else []) + [
            f"{r['subs']}/{r['pubs']}", mode, TITLES[r["system"]], cell(a["mean"]), cell(a["p50"]),
            cell(a["p99"]), cell(a["p999"]), cell(a["max"]), cell(a["samples"]),
            cell(a["delivered_per_s"]), f"{d / fan1:.1%} / {d / fanc:.1%}" if d and fan1 and fanc else "–", a["lost"],
            a["duplicates"], _wait(r["reps"]), rat, _status(r)])
    md.table(header, out)


# ---------------------------------------------------------------------------------------------
# Plots


def _gnuplot(script, log_dir, name):
    with open(os.path.join(log_dir, f"{name}.gp"), "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot"], input=script.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        with open(os.path.join(log_dir, f"{name}.gnuplot.log"), "wb") as f:
            f.write(r.stdout)
        return False
    return True


def _terminal():
    probe = subprocess.run(["gnuplot", "-e", "set terminal pngcairo"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    if probe.returncode == 0 and not probe.stdout.strip():
        return "set terminal pngcairo size 1200,{h} font 'sans,10'"
    return "set terminal png size 1200,{h}"


def write_plots(results, out_dir, log_dir):
    if not shutil.which("gnuplot"):
        return []
    term = _terminal()
    prefix = "latest" if results["profile"] != "smoke" else "smoke"
    made = []
    sc = results["scenarios"]
    data_dir = os.path.join(log_dir, "plotdata")
    os.makedirs(data_dir, exist_ok=True)

    if "S2" in sc:
        rows = [r for r in sc["S2"]["rows"] if "agg" in r]
        nodes = sorted({r["nodes"] for r in rows})
        systems = [s for s in ("heimdallr", "heimdallr_auth", "socketio", "ws") if any(r["system"] == s for r in rows)]
        panels = []
        for mode in ("steady", "burst"):
            for n in nodes:
                sel = [r for r in rows if r["nodes"] == n and r["mode"] == mode]
                if not sel:
                    continue
                keys = sorted({(r["subs"], r["pubs"]) for r in sel})
                present = [s for s in systems
                           if any(r["system"] == s and _med(r["agg"]["p99"]) for r in sel)]
                if not present:
                    continue
                fn = os.path.join(data_dir, f"s2-{mode}-{n}.dat")
                with open(fn, "w") as f:
                    f.write("row " + " ".join(TITLES[s].replace(" ", "_") for s in present) + "\n")
                    for k in keys:
                        vals = []
                        for s in present:
                            m = [r for r in sel if (r["subs"], r["pubs"]) == k and r["system"] == s]
                            v = _med(m[0]["agg"]["p99"]) if m else None
                            vals.append(f"{v:.4f}" if v else "NaN")
                        f.write(f"{k[0]}/{k[1]} " + " ".join(vals) + "\n")
                panels.append((f"p99 latency, {n} node(s), {mode}", fn, len(present)))
        if panels:
            cols = 2
            rows_n = (len(panels) + cols - 1) // cols
            script = term.format(h=380 * rows_n) + f"\nset output '{out_dir}/{prefix}-latency.png'\n"
            script += (f"set multiplot layout {rows_n},{cols}\nset style data histograms\n"
                       "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
                       "set logscale y\nset ylabel 'p99 ms (log)'\nset xlabel 'subscribers/publishers'\n"
                       "set key top left\nset grid ytics\n")
            for title, fn, ns in panels:
                script += f"set title \"{title}\"\nplot " + ", ".join(
                    f"'{fn}' using {i + 2}:xtic(1) title columnheader({i + 2})" for i in range(ns)) + "\n"
            script += "unset multiplot\n"
            if _gnuplot(script, log_dir, "latency"):
                made.append(f"{prefix}-latency.png")

    if "S3" in sc:
        rows = sc["S3"]["rows"]
        configs = []
        for r in rows:
            if r["config"] not in configs:
                configs.append(r["config"])
        panels = []
        for c in configs:
            lines = []
            for r in rows:
                if r["config"] != c:
                    continue
                steps = next((rep["steps"] for rep in r["reps"] if rep.get("steps")), [])
                if not steps:
                    continue
                fn = os.path.join(data_dir, f"s3-{c}-{r['system']}.dat")
                with open(fn, "w") as f:
                    for s in steps:
                        f.write(f"{s['offered_rate'] * r['room_size']:.1f} {s['delivered_per_s']:.1f} "
                                f"{s['p99']:.3f}\n")
                lines.append((TITLES[r["system"]], fn))
            if lines:
                panels.append((c, lines))
        if panels:
            cols = len(panels)
            script = term.format(h=800).replace("1200,", f"{max(1200, 520 * cols)},") + \
                f"\nset output '{out_dir}/{prefix}-throughput.png'\n"
            script += (f"set multiplot layout 2,{cols}\nset logscale xy\nset grid\n"
                       "set xlabel 'offered deliveries/s'\nset key top left\n")
            for c, lines in panels:
                script += (f"set title \"S3 {c}: delivered vs offered\"\nset ylabel 'delivered/s'\nplot "
                           + ", ".join(f"'{fn}' using 1:2 with linespoints title '{t}'" for t, fn in lines)
                           + ", x with lines dt 2 lc rgb 'grey' title 'offered'\n")
            for c, lines in panels:
                script += (f"set title \"S3 {c}: p99 latency vs offered (limit {sc['S3']['p99_limit_ms']:.0f} ms)\"\n"
                           "set ylabel 'p99 ms'\nplot "
                           + ", ".join(f"'{fn}' using 1:3 with linespoints title '{t}'" for t, fn in lines)
                           + f", {sc['S3']['p99_limit_ms']} with lines dt 2 lc rgb 'red' title 'limit'\n")
            script += "unset multiplot\n"
            if _gnuplot(script, log_dir, "throughput"):
                made.append(f"{prefix}-throughput.png")

    if "S1" in sc:
        rows = [r for r in sc["S1"]["rows"] if _med(r["agg"]["rss_kb_per_conn"]) is not None]
        systems = [s for s in ("heimdallr", "heimdallr_auth", "socketio", "ws") if any(r["system"] == s for r in rows)]
        sizes = sorted({r["connections"] for r in rows})
        if rows:
            fn = os.path.join(data_dir, "s1.dat")
            with open(fn, "w") as f:
                f.write("conns " + " ".join(TITLES[s].replace(" ", "_") for s in systems) + "\n")
                for n in sizes:
                    vals = []
                    for s in systems:
                        m = [r for r in rows if r["connections"] == n and r["system"] == s]
                        v = _med(m[0]["agg"]["rss_kb_per_conn"]) if m else None
                        vals.append(f"{v:.3f}" if v is not None else "NaN")
                    f.write(f"{n} " + " ".join(vals) + "\n")
            script = term.format(h=450) + f"\nset output '{out_dir}/{prefix}-memory.png'\n"
            script += ("set style data histograms\nset style histogram clustered gap 1\n"
                       "set style fill solid 0.8 border -1\nset ylabel 'server RSS KiB per idle connection'\n"
                       "set xlabel 'connections'\nset grid ytics\nset key top left\n"
                       "set title 'S1 idle memory per connection'\nset yrange [0:*]\nplot " + ", ".join(
                           f"'{fn}' using {i + 2}:xtic(1) title columnheader({i + 2})"
                           for i in range(len(systems))) + "\n")
            if _gnuplot(script, log_dir, "memory"):
                made.append(f"{prefix}-memory.png")
    return made
