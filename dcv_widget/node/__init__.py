"""What runs on the compute nodes, installed there by the node bootstrap (on_node_configured.sh):
the DCV token verifier, stdlib only, importing nothing else of dcv_widget."""
