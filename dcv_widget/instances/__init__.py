"""Stand-alone DCV EC2 instances (the second seed): the EC2 backend, their manager, and the
idle policy run by SSM."""
