"""Where desktops run: `slurm` (batch jobs on a cluster)."""
