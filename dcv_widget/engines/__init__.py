"""What runs on the compute node: each engine renders a job script and builds a connect URL."""

from __future__ import annotations

from .novnc import NoVNCEngine

ENGINES = {"novnc": NoVNCEngine()}
