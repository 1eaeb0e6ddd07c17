"""A throw-away certificate authority (trustme) for the TLS fakes."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import trustme


class ThrowawayCA:
    """A CA and one server certificate for 127.0.0.1 and localhost; ``ca_file`` is what clients trust."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="driftline-ca-"))
        self.ca_file = str(folder / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context
