"""Desktops as Slurm jobs: the request and its bounds, the lifecycle (a pure state machine), the
session file a job writes, the Slurm CLI wrapper, the engines' job scripts, and the managers
that submit, follow and end them."""
