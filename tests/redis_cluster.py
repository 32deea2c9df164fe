"""A real Redis Cluster for tests: three masters, each with a replica, on free loopback
ports, formed with ``redis-cli --cluster create`` as people set one up by hand.

The node timeout is one second, so a killed master's replica takes over within a few.
"""

from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .redis_server import RedisServer

#: Seconds a master may be silent before its replica takes over.
NODE_TIMEOUT_MS = 1000


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 higher) is free too."""
    while True:
        port = random.randrange(20_000, 45_000)
        if all(_free(candidate) for candidate in (port, port + 10_000)):
            return port


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class RedisClusterNodes:
    def __init__(self, directory: Path, *, masters: int = 3, replicas: int = 1) -> None:
        if shutil.which("redis-cli") is None:
            raise RuntimeError("redis-cli is not installed (apt-get install redis-server)")
        options = (
            *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
            *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
            # A replica may take over however long ago it last heard its master.
            *("--cluster-replica-validity-factor", "0"),
        )
        self.replicas = replicas
        self.nodes = [
            RedisServer(directory / f"node{index}", options=options, port=cluster_port())
            for index in range(masters * (1 + replicas))
        ]

    def url(self, index: int = 0) -> str:
        """The URL of one node: the client finds the others from it."""
        return self.nodes[index].url

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        create = ["redis-cli", "--cluster", "create", *addresses, "--cluster-yes"]
        subprocess.run(
            [*create, "--cluster-replicas", str(self.replicas)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_until_ok()
        self.wait_for_replication()

    def wait_for_replication(self, timeout: float = 30) -> None:
        """Every replica has its master's data (else it could not take over)."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            while "role:slave" in (info := self._cli(node, "info", "replication")):
                if "master_link_status:up" in info:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a replica did not sync:\n{info}")
                time.sleep(0.1)

    def rejoin(self, node: RedisServer) -> None:
        """Start a killed node again: it comes back as a replica of the one that took
        over, and the cluster is whole again for the next test."""
        node.start()
        self.wait_until_ok()
        self.wait_for_replication()

    def stop(self) -> None:
        """SIGKILL every node: a test cluster's data is not kept, and a master told to
        stop politely waits for its replicas (up to Redis 7's shutdown-timeout)."""
        for node in self.nodes:
            node.kill()

    def wait_until_ok(self, timeout: float = 30) -> None:
        """Every living node says ``cluster_state:ok`` and knows a master for every slot."""
        deadline = time.monotonic() + timeout
        while not all(
            "cluster_state:ok" in self._cli(node, "cluster", "info")
            for node in self.nodes
            if node.process is not None
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not come up:\n" + self._nodes_table())
            time.sleep(0.1)

    def master_of(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now."""
        alive = next(node for node in self.nodes if node.process is not None)
        slot = int(self._cli(alive, "cluster", "keyslot", key))
        for line in self._cli(alive, "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            port = int(re.split(r"[:@]", fields[1])[1])
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return next(node for node in self.nodes if node.port == port)
        raise RuntimeError(f"no master serves slot {slot}:\n{self._nodes_table()}")

    def wait_for_new_master(self, key: str, old: RedisServer, timeout: float = 30) -> RedisServer:
        """After ``old`` died: the replica promoted in its place."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                master = self.master_of(key)
            except RuntimeError:
                master = old
            if master is not old:
                self.wait_until_ok(timeout)
                return master
            if time.monotonic() > deadline:
                raise RuntimeError("no replica took over:\n" + self._nodes_table())
            time.sleep(0.1)

    def _nodes_table(self) -> str:
        alive = [node for node in self.nodes if node.process is not None]
        return self._cli(alive[0], "cluster", "nodes") if alive else "(no node alive)"

    @staticmethod
    def _cli(node: RedisServer, *command: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(node.port), *command],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.strip()
