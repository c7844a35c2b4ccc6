"""Where a desktop listens, as its job recorded it: what every access route starts from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """Where the desktop listens, as the job found it: no secret in here.

    `host` is the address URLs use; the EC2 fields are filled from instance metadata when the
    node is an EC2 instance (the access routes need them), else left empty. `cert` is the
    desktop web server's TLS certificate (PEM) as the job recorded it on the node: the Jupyter
    route pins it ("" where the job recorded none).
    """

    engine: str
    host: str
    port: int
    session_id: str = ""
    private_ip: str = ""
    public_ip: str = ""
    instance_id: str = ""
    region: str = ""
    cert: str = field(default="", repr=False)
