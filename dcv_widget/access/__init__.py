"""How a browser reaches a desktop: the routes (jupyter, direct, ssh, ssm, ssm-head, tunnel), what a
card says for each, the AWS lookups they need, and the tunnels the widget holds."""
