"""How commands reach the cluster: an argv in, text out, on this machine (local.py) or over
one kept SSH connection (ssh.py). Imports no other layer of dcv_widget."""
