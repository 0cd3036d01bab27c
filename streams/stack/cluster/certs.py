"""TLS material of the test cluster, made with the JDK's ``keytool`` (no Python crypto library is installed).

One CA signs one node certificate (``CN=isthmus-kafka``, SAN ``127.0.0.1`` and ``localhost``, server and client
use): every node presents it on its listeners and, on the controller listener, as its client certificate, so
the nodes know each other as the principal ``User:CN=isthmus-kafka``. Clients trust ``ca.pem``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from streams.stack.exceptions import StackError

#: The principal a node is known by on the mutual-TLS controller listener.
NODE_DN = "CN=isthmus-kafka"
VALID_DAYS = "30"


@dataclass(frozen=True, kw_only=True)
class ClusterCerts:
    ca_pem: Path
    keystore: Path
    truststore: Path
    #: The password of both PKCS12 stores (test material, generated per cluster home).
    password: str


def make_certs(folder: Path, password: str, keytool: str = "keytool") -> ClusterCerts:
    """The CA, the node keystore and the truststore in ``folder``; reused when already made."""
    certs = ClusterCerts(ca_pem=folder / "ca.pem", keystore=folder / "node.p12", truststore=folder / "truststore.p12",
                         password=password)
    if certs.ca_pem.exists() and certs.keystore.exists() and certs.truststore.exists():
        return certs
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.iterdir():
        leftover.unlink()
    ca, csr, signed = folder / "ca.p12", folder / "node.csr", folder / "node.pem"
    store = ("-storetype", "PKCS12", "-storepass", password, "-keypass", password)

    def run(*args: str) -> None:
        done = subprocess.run([keytool, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"keytool {args[0]} failed in {folder}:\n{done.stdout}{done.stderr}")

    run("-genkeypair", "-alias", "ca", "-dname", "CN=isthmus-test-ca", "-keyalg", "RSA", "-keysize", "2048",
        "-validity", VALID_DAYS, "-ext", "bc:c", "-keystore", str(ca), *store)
    run("-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca), "-storepass", password, "-file", str(certs.ca_pem))
    run("-genkeypair", "-alias", "node", "-dname", NODE_DN, "-keyalg", "RSA", "-keysize", "2048",
        "-validity", VALID_DAYS, "-keystore", str(certs.keystore), *store)
    run("-certreq", "-alias", "node", "-keystore", str(certs.keystore), "-storepass", password, "-file", str(csr))
    run("-gencert", "-alias", "ca", "-keystore", str(ca), "-storepass", password, "-infile", str(csr),
        "-outfile", str(signed), "-rfc", "-validity", VALID_DAYS, "-ext", "SAN=ip:127.0.0.1,dns:localhost",
        "-ext", "KU=digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth,clientAuth")
    run("-importcert", "-noprompt", "-alias", "ca", "-file", str(certs.ca_pem), "-keystore", str(certs.keystore),
        "-storepass", password)
    run("-importcert", "-noprompt", "-alias", "node", "-file", str(signed), "-keystore", str(certs.keystore),
        "-storepass", password)
    run("-importcert", "-noprompt", "-alias", "ca", "-file", str(certs.ca_pem), "-keystore", str(certs.truststore),
        *store)
    return certs
