"""The Jupyter server extension: desktops reached through the Jupyter server's own URL (the
`jupyter` access route), with Jupyter's authentication and no port opened anywhere."""
