"""Processes the benchmark starts: servers, Redis, generators. Every one is tracked by pid and
stopped by pid (SIGTERM, then SIGKILL), also when the harness is interrupted."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

_live = {}  # pid -> Proc


class Proc:
    """One child process with its output in a log file. `cpus` pins it with taskset."""

    def __init__(self, name, argv, log_dir, cpus=None, stdin=None, cwd=None, capture=False):
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        if cpus:
            argv = ["taskset", "-c", cpus] + list(argv)
        self.argv = argv
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else self._log,
            stderr=self._log,
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        _live[self.pid] = self

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_for(self, pattern, timeout=20.0):
        """Waits until the log matches `pattern`; returns the match. Raises with the log tail."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.log_text())
            if m:
                return m
            if self.popen.poll() is not None:
                break
            time.sleep(0.02)
        tail = self.log_text()[-2000:]
        raise RuntimeError(f"{self.name} did not log /{pattern}/ (exit {self.popen.poll()}):\n{tail}")

    def alive(self):
        return self.popen.poll() is None

    def stop(self, grace=3.0):
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait()
        self._log.close()
        _live.pop(self.pid, None)


def stop_all():
    for proc in list(_live.values()):
        proc.stop(grace=1.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def wait_http_ok(url, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status(url) == 200:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url} not 200 within {timeout}s")


def cpu_seconds(pid):
    """utime + stime of a process (all threads), from /proc/PID/stat; None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def smaps_rollup(pid):
    """kB figures of /proc/PID/smaps_rollup (Rss, Pss, Private_Dirty, ...)."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[-1] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def sockstat():
    """/proc/net/sockstat as {'TCP': {'inuse': .., 'mem': pages, ...}, 'sockets': {...}}."""
    out = {}
    with open("/proc/net/sockstat") as f:
        for line in f:
            head, _, rest = line.partition(":")
            vals = rest.split()
            out[head] = {vals[i]: int(vals[i + 1]) for i in range(0, len(vals) - 1, 2)}
    return out


def slab_bytes(names=("TCP", "sock_inode_cache", "skbuff_head_cache")):
    """Active bytes of a few socket-related slab caches (needs root); {} when unreadable."""
    out = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] in names:
                    out[parts[0]] = int(parts[1]) * int(parts[3])
    except (OSError, ValueError, IndexError):
        pass
    return out
