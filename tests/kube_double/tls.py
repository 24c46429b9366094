"""Certificates for serving the double over HTTPS: a CA made here, a server certificate
for 127.0.0.1 and client certificates, all signed by that CA (with the `openssl` CLI).

The real `kubectl` sends a bearer token only over HTTPS, and verifies the server
against the kubeconfig's certificate-authority: so the double needs a CA of its own.
Keys are EC P-256 (fast to make); each process makes its CA once.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DoubleCA", "double_ca"]

_lock = threading.Lock()
_ca: DoubleCA | None = None


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _key_and_request(cwd: Path, name: str, cn: str) -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
        cwd=cwd,
    )  # fmt: skip


@dataclass(frozen=True)
class DoubleCA:
    """A directory holding ca.crt and server.crt/server.key (for IP 127.0.0.1)."""

    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    def client_cert(self, cn: str) -> tuple[str, str]:
        """A client certificate for user `cn`, signed by the CA: (cert PEM, key PEM)."""
        name = f"client-{cn}"
        d = self.directory
        with _lock:
            if not (d / f"{name}.crt").exists():
                _key_and_request(d, name, cn)
                self._sign(name, "extendedKeyUsage=clientAuth")
        return (d / f"{name}.crt").read_text(), (d / f"{name}.key").read_text()

    def _sign(self, name: str, extensions: str) -> None:
        ext = self.directory / f"{name}.ext"
        ext.write_text(f"basicConstraints=CA:FALSE\n{extensions}\n")
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", ext.name,
            cwd=self.directory,
        )  # fmt: skip


def double_ca() -> DoubleCA:
    """This process's CA and server certificate (made on first use)."""
    global _ca
    with _lock:
        if _ca is None:
            d = Path(tempfile.mkdtemp(prefix="kube-double-ca-"))
            _openssl(
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                "-subj", "/CN=kube-double-ca",
                cwd=d,
            )  # fmt: skip
            _key_and_request(d, "server", "kube-double")
            ca = DoubleCA(d)
            ca._sign("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
            _ca = ca
        return _ca
