"""Test certificates for the fake API server, made with the openssl command line.

A throwaway CA and a server certificate for 127.0.0.1, ::1 and localhost, both
EC P-256 (fast to make), valid for two days.
"""

import os
import subprocess


def _run(args, cwd):
    subprocess.run(["openssl"] + args, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)


def make_certs(directory):
    """Write ca.crt, ca.key, server.crt and server.key into directory.

    Returns (ca_crt_path, server_crt_path, server_key_path).
    """
    d = os.path.abspath(directory)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run(["req", "-x509"] + ec + [
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=npbpf-test-apiserver-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n")
    _run(["req", "-new"] + ec + [
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], d)
    _run(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
          "-CAcreateserial", "-out", "server.crt", "-days", "2",
          "-extfile", "server.ext"], d)
    for name in ("ca.key", "server.key"):
        os.chmod(os.path.join(d, name), 0o600)
    return (os.path.join(d, "ca.crt"), os.path.join(d, "server.crt"),
            os.path.join(d, "server.key"))
