"""The systems under test, started fresh on loopback: heimdallr (inmem bus for one node, Redis bus
for several), heimdallr with JWT auth on (the same, every upgrade carrying a token it verifies),
the Socket.IO peer (redis-adapter for several), the plain ws peer, the Node http peer, and
redis-server itself."""

import os
import secrets
import subprocess

from procs import Proc, free_port, wait_http_ok

LISTEN_RE = r"listening on [0-9.]+:(\d+)"

# What each system is called in reports, and which loadgen protocol speaks to it.
SYSTEMS = {
    "heimdallr": {"title": "heimdallr", "protocol": "heimdallr", "multi_node": True},
    # heimdallr itself with auth.enabled: what verifying a token per upgrade costs. A variant of
    # ours, not a peer: the report (report.OURS) shows it beside heimdallr, never as a loss.
    "heimdallr_auth": {"title": "heimdallr, auth on", "protocol": "heimdallr", "multi_node": True},
    "socketio": {"title": "Socket.IO 4.8", "protocol": "socketio", "multi_node": True},
    "ws": {"title": "ws 8 (Node ceiling)", "protocol": "ws", "multi_node": False},
    # S6, protocol v2 (docs/PROTOCOL.md): the same binary, clients speaking v2, rooms keeping
    # history (offsets from the store) or presence. Variants of ours, like heimdallr_auth.
    "heimdallr_v2": {"title": "heimdallr v2, history on", "protocol": "v2", "multi_node": True,
                     "sets": ["history.size=1000", "history.join_messages=0"]},
    "heimdallr_v2_nohist": {"title": "heimdallr v2, no history", "protocol": "v2", "multi_node": True},
    "heimdallr_v2_presence": {"title": "heimdallr v2, presence on", "protocol": "v2", "multi_node": True,
                              "sets": ["presence.enabled=true"]},
    # Socket.IO with connection state recovery (in-memory adapter only: its docs say the Redis
    # adapter does not support it), the peer of S6's recovery and history rows.
    "socketio_csr": {"title": "Socket.IO 4.8, state recovery", "protocol": "socketio", "multi_node": False,
                     "args": ["--recovery", "1"]},
}

HEIMDALLR_SYSTEMS = ("heimdallr", "heimdallr_auth", "heimdallr_v2", "heimdallr_v2_nohist", "heimdallr_v2_presence")


def auth_settings(ctx):
    """The --set overrides of the auth variant: auth on, with an HS256 secret written once per run.
    The nodes verify with them and `heimdallr token` mints with them."""
    path = os.path.join(ctx.log_dir, "bench-auth.secret")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(secrets.token_hex(32))
    return ["--set", "auth.enabled=true", "--set", f"auth.hmac_secret_file={path}"]


def query_args(ctx, system):
    """The generator's extra upgrade query for `system`: a token for the auth variant, minted once
    per run by `heimdallr token` (sub bench-user, every room). Every upgrade sends the same token,
    and the server verifies it in full each time: it keeps no cache of verified tokens."""
    if system != "heimdallr_auth":
        return []
    if not getattr(ctx, "_auth_token", None):
        argv = ([ctx.server, "token", "--config", os.path.join(ctx.root, "conf/heimdallr.yaml")]
                + auth_settings(ctx) + ["--sub", "bench-user", "--rooms", "*", "--ttl", "24h"])
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        ctx._auth_token = out.strip().splitlines()[-1]
    return ["--query", "token=" + ctx._auth_token]


class Redis:
    def __init__(self, ctx, name="redis"):
        self.port = free_port()
        self.proc = Proc(
            name,
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--loglevel", "notice"],
            ctx.log_dir, cpus=ctx.server_cpus)
        self.proc.wait_for(r"[Rr]eady to accept connections", timeout=10)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        self.proc.stop()


class Cluster:
    """`nodes` processes of one system; endpoints are "127.0.0.1:port" strings."""

    def __init__(self, ctx, system, nodes=1, redis=None, tag=""):
        self.ctx, self.system, self.nodes = ctx, system, nodes
        self.procs, self.endpoints = [], []
        self.redis = redis
        self.own_redis = False
        try:
            if nodes > 1 and redis is None:
                self.redis = Redis(ctx, name=f"redis-{system}{tag}")
                self.own_redis = True
            for k in range(nodes):
                self._start_node(k, tag)
        except Exception:
            self.stop()
            raise

    def _start_node(self, k, tag):
        ctx = self.ctx
        name = f"{self.system}{tag}-node{k + 1}"
        if self.system in HEIMDALLR_SYSTEMS:
            argv = [ctx.server, "--config", os.path.join(ctx.root, "conf/heimdallr.yaml"),
                    "--set", "server.port=0", "--set", "server.host=127.0.0.1",
                    "--set", f"server.io_threads={ctx.io_threads}",
                    "--set", f"server.node_id=bench{k + 1}",
                    "--set", f"bus.plugin_dir={ctx.plugin_dir}",
                    "--set", "log.level=information",
                    # The peers have no per-client message limit, and the publishers here send
                    # far past a chat client's rate on purpose: compare like with like.
                    "--set", "limits.messages_per_second=0"]
            if self.redis:
                argv += ["--set", "bus.plugin=redis", "--set", f"bus.redis.port={self.redis.port}"]
            else:
                argv += ["--set", "bus.plugin=inmem"]
            if self.system == "heimdallr_auth":
                argv += auth_settings(ctx)
            for setting in SYSTEMS[self.system].get("sets", []):
                argv += ["--set", setting]
            # A/B runs of one setting, e.g. HEIMDALLR_BENCH_SET="metrics.enabled=false".
            for setting in os.environ.get("HEIMDALLR_BENCH_SET", "").split():
                argv += ["--set", setting]
        elif self.system in ("socketio", "socketio_csr", "ws", "http"):
            script = {"socketio": "socketio-server.js", "socketio_csr": "socketio-server.js",
                      "ws": "ws-server.js", "http": "http-server.js"}[self.system]
            argv = ["node", os.path.join(ctx.peers_dir, script), "--host", "127.0.0.1", "--port", "0"]
            argv += SYSTEMS.get(self.system, {}).get("args", [])
            if self.redis and self.system == "socketio":
                argv += ["--redis-port", str(self.redis.port)]
        else:
            raise ValueError(self.system)
        proc = Proc(name, argv, ctx.log_dir, cpus=ctx.server_cpus, cwd=ctx.root)
        self.procs.append(proc)
        port = proc.wait_for(LISTEN_RE, timeout=20).group(1)
        endpoint = f"127.0.0.1:{port}"
        wait_http_ok(f"http://{endpoint}/health", timeout=20)
        self.endpoints.append(endpoint)

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    @property
    def pids_with_redis(self):
        """The nodes, then their Redis when they have one: what S6 counts as the servers' CPU."""
        return self.pids + ([self.redis.pid] if self.redis else [])

    def alive(self):
        return all(p.alive() for p in self.procs)

    def stop(self):
        for p in self.procs:
            p.stop()
        if self.own_redis and self.redis:
            self.redis.stop()
