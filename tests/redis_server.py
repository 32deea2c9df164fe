"""A real ``redis-server`` for tests: a free loopback port, a temporary directory.

Started with an append-only file synced on every write, so a restart keeps
every job (the restart test depends on it); stopped, and its files removed
with the temporary directory, after the test. With ``tls`` it speaks TLS only
(certificates from :func:`make_certificates`), and ``users`` are ACL lines
(``"alice on >secret ~* &* +@all"``, ``"default off"``), as managed Redis runs.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_certificates(directory: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1, made with ``openssl``;
    returns the directory (``ca.crt``, ``server.crt``, ``server.key``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
         "-out", "ca.crt", "-days", "2", "-subj", "/CN=orchestrator test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
         "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf"],
    ]  # fmt: skip
    for step in steps:
        subprocess.run(["openssl", *step], cwd=directory, check=True, capture_output=True)
    return directory


class RedisServer:
    def __init__(
        self,
        directory: Path,
        *,
        fsync: str = "always",
        tls: Path | None = None,
        users: tuple[str, ...] = (),
        options: tuple[str, ...] = (),
        port: int | None = None,
    ) -> None:
        """``fsync``: Redis' appendfsync (``always`` for tests, ``everysec`` as deployed);
        ``tls``: a directory from :func:`make_certificates`; ``users``: ACL lines;
        ``options``: more command-line options (``--cluster-enabled yes``...)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = port if port is not None else free_port()
        self.fsync = fsync
        self.tls = tls
        self.users = users
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.url_for()

    def url_for(
        self, user: str | None = None, password: str | None = None, ca: Path | None = None
    ) -> str:
        """The URL to reach it: ``rediss://`` with the CA (its own unless ``ca``) when it
        speaks TLS."""
        login = ""
        if user is not None or password is not None:
            quoted = urllib.parse.quote(password or "", safe="")
            login = f"{user or ''}:{quoted}@"
        if self.tls is None:
            return f"redis://{login}127.0.0.1:{self.port}/0"
        query = urllib.parse.urlencode(
            {"ssl_ca_certs": str(ca or self.tls / "ca.crt"), "ssl_cert_reqs": "required"}
        )
        return f"rediss://{login}127.0.0.1:{self.port}/0?{query}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.tls is None:
            argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        else:
            argv = [self.binary, "--port", "0", "--tls-port", str(self.port)]
            argv += ["--bind", "127.0.0.1", "--tls-auth-clients", "no"]
            for option, name in (
                ("cert", "server.crt"),
                ("key", "server.key"),
                ("ca-cert", "ca.crt"),
            ):
                argv += [f"--tls-{option}-file", str(self.tls / name)]
        for user in self.users:
            argv += ["--user", *user.split()]  # one directive, its words as arguments
        argv += ["--dir", str(self.directory), "--save", "", "--appendonly", "yes"]
        argv += ["--appendfsync", self.fsync, "--protected-mode", "yes", "--logfile", "redis.log"]
        argv += self.options
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.directory / "redis.log"
                raise RuntimeError(f"redis-server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: the server dies as a crashed machine would, saying nothing."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(20)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def _answers(self) -> bool:
        """It answers a PING (or refuses it for want of a login: it is up)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                if self.tls is None:
                    return _pinged(raw)
                context = ssl.create_default_context(cafile=str(self.tls / "ca.crt"))
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as secure:
                    return _pinged(secure)
        except OSError:
            return False


def _pinged(connection: socket.socket) -> bool:
    connection.sendall(b"PING\r\n")
    return connection.recv(64).startswith((b"+PONG", b"-NOAUTH"))
