"""Site and user defaults, the Jupyter way: `c.DesktopSettings.partition = "dcv"`.

Read from `jupyter_dcv_widget_config.py` / `.json` in every Jupyter config folder, with
Jupyter's own precedence (`jupyter --paths`: a folder listed earlier wins; e.g. /etc/jupyter
for the site, ~/.jupyter for the user, JUPYTER_CONFIG_PATH above both). Every launch option can
still be overridden per call; the result is validated as a `LaunchRequest`, so a bad value in a
config file fails with the option's name, and checked against the site's bounds (`max_time`,
`allowed_engines`, ...: bounds.py), so a value over one fails naming the bound.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable
from traitlets.config.loader import Config

from .access.instructions import (
    DEFAULT_SSM_DOCUMENT,
    DEFAULT_SSM_REMOTE_DOCUMENT,
    check_document_name,
)
from .access.routes import jupyter_route_base
from .desktops.bounds import Bounds, setting
from .desktops.preset_store import PresetStore, default_path
from .desktops.presets import Preset, find, parse_presets
from .desktops.request import OPTIONAL_TEXT, InvalidRequest, LaunchRequest

CONFIG_NAME = "jupyter_dcv_widget_config"


class DesktopSettings(Configurable):
    """Defaults for desktops launched from this Jupyter installation."""

    partition = Unicode("", help="Slurm partition for desktops; empty: the cluster's default.").tag(
        config=True
    )
    time = Unicode("1:00:00", help="Time limit of a desktop job, in any Slurm format.").tag(
        config=True
    )
    cpus = Int(1, help="CPUs per desktop.").tag(config=True)
    memory = Unicode("", help="Memory per desktop (e.g. 8G); empty: the partition's default.").tag(
        config=True
    )
    gpus = Int(0, help="GPUs per desktop.").tag(config=True)
    account = Unicode("", help="Slurm account to charge; empty: the user's default.").tag(
        config=True
    )
    qos = Unicode("", help="Slurm QOS of desktop jobs; empty: the user's default QOS.").tag(
        config=True
    )
    reservation = Unicode(
        "", help="Slurm reservation desktops run in (a class's nodes); empty: none."
    ).tag(config=True)
    constraint = Unicode(
        "",
        help="Node features a desktop's node must have: names joined by & (all) or | (any), "
        "with parentheses, e.g. avx2&x11; empty: any node.",
    ).tag(config=True)
    gpu_type = Unicode(
        "", help="GPU type (the GRES type, e.g. t4) of a desktop's GPUs; empty: any type."
    ).tag(config=True)
    exclusive = Bool(
        False, help="A whole node per desktop (sbatch --exclusive); needs allow_exclusive."
    ).tag(config=True)
    engine = Unicode("novnc", help="Desktop engine: novnc or dcv.").tag(config=True)
    geometry = Unicode(
        "1600x900",
        help="Screen size a desktop starts at, WIDTHxHEIGHT (novnc: Xvnc -geometry; dcv: "
        "dcv set-display-layout); Connect can then fit it to the browser's window.",
    ).tag(config=True)
    access = Unicode(
        help="How browsers reach the desktops: jupyter, direct, ssh, ssm, ssm-head or tunnel "
        "(docs/access-routes.md); by default jupyter where the Jupyter server relays desktops "
        "(its dcv_widget server extension is enabled), else direct.",
    ).tag(config=True)
    head_node = Unicode(
        "",
        help="The head node's address as users reach it with ssh, for tunnel instructions; "
        "empty: ssh_host, else this host's name.",
    ).tag(config=True)
    head_node_instance_id = Unicode(
        "",
        help="The head node's EC2 instance id, for the ssm-head route; empty: this machine's "
        "instance metadata (JupyterLab on the head node), else looked up by ssh_host's address.",
    ).tag(config=True)
    aws_region = Unicode(
        "",
        help="AWS region for instance lookups when the node did not record its own; empty: "
        "AWS_REGION / the profile, else this machine's instance metadata.",
    ).tag(config=True)
    aws_profile = Unicode(
        "", help="AWS profile for instance lookups; empty: boto3's default chain."
    ).tag(config=True)
    ssm_document = Unicode(
        DEFAULT_SSM_DOCUMENT,
        help="SSM session document of the ssm route's command (a name or ARN); the site's own "
        "restricts the ports (docs/access-routes.md).",
    ).tag(config=True)
    ssm_remote_document = Unicode(
        DEFAULT_SSM_REMOTE_DOCUMENT,
        help="SSM session document of the ssm-head route's command (a name or ARN); the site's "
        "own restricts the hosts and ports (docs/access-routes.md).",
    ).tag(config=True)
    local_port_base = Int(
        18443,
        min=1024,
        max=64535,
        help="First local port of tunnels (ssh, ssm, tunnel routes): a desktop's port is this "
        "plus its job id modulo 1000, so it stays the same after a kernel restart.",
    ).tag(config=True)
    idle_timeout = Int(
        0, help="Minutes without a connection before a dcv desktop ends itself; 0: never."
    ).tag(config=True)
    startup_timeout = Float(
        600.0,
        min=10.0,
        help="Seconds a running job may take to bring its desktop up before it is failed and "
        "cancelled (queue time does not count).",
    ).tag(config=True)
    node_boot_seconds = Int(
        60,
        min=0,
        help="About how long a powered-down (cloud) node takes to boot, for the launcher's "
        "partition labels ('powered down: starts in about a minute'); 0: say only that a node "
        "boots first.",
    ).tag(config=True)
    ssh_host = Unicode(
        "",
        help="Reach the cluster over SSH at this host (a name from ~/.ssh/config works); "
        "empty: run Slurm's commands here, on the head node.",
    ).tag(config=True)
    ssh_trust_unknown_host = Bool(
        False, help="Accept and record an SSH host key seen for the first time."
    ).tag(config=True)
    fast_poll = Float(
        1.0,
        min=0.2,
        help="Seconds between two looks at the files desktop jobs write (~/.dcv-widget/"
        "sessions): how soon a start, a ready desktop or an end shows. Asks Slurm nothing.",
    ).tag(config=True)
    slow_poll = Float(
        60.0,
        min=1.0,
        help="Longest gap between two squeue calls of a kernel (and of a class overview); "
        "the job's files, a launch and End ask sooner. The scheduler is shared: each squeue "
        "costs slurmctld about 3 RPCs.",
    ).tag(config=True)

    max_time = Unicode(
        "",
        help="The longest time limit a user may ask for, in any Slurm format (e.g. 8:00:00); "
        "empty: no bound.",
    ).tag(config=True)
    max_cpus = Int(0, min=0, help="The most CPUs a user may ask for per desktop; 0: no bound.").tag(
        config=True
    )
    max_gpus = Int(0, min=0, help="The most GPUs a user may ask for per desktop; 0: no bound.").tag(
        config=True
    )
    max_memory = Unicode(
        "",
        help="The most memory a user may ask for per desktop (e.g. 32G); empty: no bound. A "
        "desktop that leaves memory empty gets the partition's default, which this does not bound.",
    ).tag(config=True)
    max_desktops = Int(
        0,
        min=0,
        help="How many live desktops (queued or running) one user may have at once, counted in "
        "Slurm's queue at each launch; 0: no bound.",
    ).tag(config=True)
    allowed_engines = List(
        Unicode(), default_value=[], help="The engines users may choose (novnc, dcv); empty: all."
    ).tag(config=True)
    allowed_routes = List(
        Unicode(),
        default_value=[],
        help="The access routes users may choose (jupyter, direct, ssh, ssm, ssm-head, "
        "tunnel); empty: all.",
    ).tag(config=True)
    allowed_qos = List(
        Unicode(),
        default_value=[],
        help="The QOS users may choose; empty: any their Slurm association has.",
    ).tag(config=True)
    allowed_reservations = List(
        Unicode(),
        default_value=[],
        help="The reservations users may choose; empty: any Slurm lets them use.",
    ).tag(config=True)
    allowed_features = List(
        Unicode(),
        default_value=[],
        help="The node features a desktop's constraint may name; empty: any.",
    ).tag(config=True)
    allowed_gpu_types = List(
        Unicode(), default_value=[], help="The GPU types users may choose; empty: any."
    ).tag(config=True)
    allow_exclusive = Bool(
        False,
        help="Users may ask for a whole node per desktop (exclusive); the launcher offers it "
        "only then.",
    ).tag(config=True)
    panel_locked = Bool(
        False,
        help="JupyterLab's Desktops panel shows these defaults read-only and launches only "
        "them (as Desktop(locked=True) does in a cell): for a class.",
    ).tag(config=True)
    launcher_tile = Enum(
        ["launch", "form"],
        default_value="launch",
        help="What the Desktop tile of JupyterLab's Launcher does: launch (a desktop with these "
        "defaults, opened in a JupyterLab tab once ready) or form (open the Desktops panel's "
        "form).",
    ).tag(config=True)

    presets = List(
        Dict(),
        default_value=[],
        help="Named launch presets the launcher offers first, each a dict of launch options on "
        'top of these defaults: {"name": "GPU", "description": "1 T4, 4 h", "gpus": 1, "time": '
        '"4:00:00"}; "locked": True shows its values read-only. Checked when read, within the '
        "bounds.",
    ).tag(config=True)
    default_preset = Unicode(
        "",
        help="The preset (a name from presets) that stands for the defaults: the form opens on "
        "it, and Desktop(), launch(), dcv-desktop launch and the Launcher tile use it unless "
        "told otherwise; empty: none (Custom).",
    ).tag(config=True)

    @default("access")
    def _default_access(self) -> str:
        """Through JupyterLab where this process's Jupyter server relays desktops."""
        return "jupyter" if jupyter_route_base() else "direct"

    @validate("ssm_document", "ssm_remote_document")
    def _document_name(self, proposal: Any) -> str:
        """A bad name fails when the settings are read, naming the setting, not on a card."""
        return _checked_document_name(proposal, "DesktopSettings")

    def bounds(self) -> Bounds:
        """The site's bounds on launch options (InvalidRequest names a bad one)."""
        return Bounds(
            max_time=self.max_time,
            max_cpus=self.max_cpus,
            max_gpus=self.max_gpus,
            max_memory=self.max_memory,
            allowed_engines=tuple(self.allowed_engines),
            allowed_routes=tuple(self.allowed_routes),
            allowed_qos=tuple(self.allowed_qos),
            allowed_reservations=tuple(self.allowed_reservations),
            allowed_features=tuple(self.allowed_features),
            allowed_gpu_types=tuple(self.allowed_gpu_types),
            allow_exclusive=self.allow_exclusive,
        )

    def request(self, preset: str | None = None, **overrides: Any) -> LaunchRequest:
        """A validated launch request: these defaults, then the values of `preset` (a site or
        user preset's name; None: default_preset, "": none), then `overrides`, within the
        site's bounds."""
        chosen = self.default_preset if preset is None else preset
        if chosen:
            overrides = {**self.preset(chosen).values, **overrides}
        return self.base_request(**overrides)

    def site_presets(self) -> list[Preset]:
        """The site's presets, checked (InvalidRequest names the preset and the field)."""
        presets = parse_presets(self.presets, setting("presets"), self.base_request)
        if self.default_preset and find(presets, self.default_preset) is None:
            raise InvalidRequest(
                "default_preset",
                self.default_preset,
                f"name one of {setting('presets')}: {', '.join(p.name for p in presets) or 'none'}",
                label=setting("default_preset"),
            )
        return presets

    def preset_store(self) -> PresetStore:
        """The user's own presets (their Jupyter data dir), checked as the site's are."""
        return PresetStore(default_path(), self.base_request)

    def preset(self, name: str) -> Preset:
        """The site's or the user's preset `name`; InvalidRequest lists the known ones."""
        site = self.site_presets()
        mine, _ = self.preset_store().load()
        found = find([*site, *mine], name)
        if found is None:
            known = ", ".join(p.name for p in [*site, *mine]) or "none is defined"
            raise InvalidRequest("preset", name, f"choose one of the presets: {known}")
        return found

    def base_request(self, **overrides: Any) -> LaunchRequest:
        """These defaults with `overrides` on top, within the site's bounds: no preset."""
        names = {f.name for f in fields(LaunchRequest)}
        for name in overrides:
            if name not in names:
                raise InvalidRequest(
                    name, overrides[name], f"unknown option; use one of {sorted(names)}"
                )
        values = {name: getattr(self, name) for name in names}
        values.update(overrides)
        for optional in OPTIONAL_TEXT:
            values[optional] = values[optional] or None
        request = LaunchRequest(**values)
        self.bounds().check(request)
        return request


class InstanceSettings(Configurable):
    """Defaults for stand-alone DCV EC2 instances (`Instances()`), `c.InstanceSettings.…`."""

    region = Unicode("", help="AWS region of the instances; empty: AWS_REGION / the profile.").tag(
        config=True
    )
    profile = Unicode("", help="AWS profile; empty: boto3's default chain.").tag(config=True)
    launch_template = Unicode(
        "", help="Launch template (id lt-… or name) new instances start from."
    ).tag(config=True)
    launch_template_version = Unicode(
        "$Default", help="Its version: a number, $Default or $Latest."
    ).tag(config=True)
    instance_type = Unicode("", help="Instance type; empty: the template's.").tag(config=True)
    subnet_id = Unicode("", help="Subnet; empty: the template's.").tag(config=True)
    security_group_ids = List(
        Unicode(), default_value=[], help="Security groups; empty: the template's."
    ).tag(config=True)
    owner_tag = Unicode(
        "dcv-widget:owner", help="Tag key marking whose desktop an instance is."
    ).tag(config=True)
    owner = Unicode("", help="Owner tag value; empty: your login name here.").tag(config=True)
    project_tag = Unicode("", help="A project tag key put on new instances; empty: none.").tag(
        config=True
    )
    project_value = Unicode("", help="The project tag's value.").tag(config=True)
    idle_tag = Unicode(
        "dcv-widget:idle", help="Tag key the idle policy targets (install_idle_policy)."
    ).tag(config=True)
    idle_value = Unicode(
        "",
        help="Tag value new instances get, so the idle policy installed for it covers them; "
        "empty: no idle tag.",
    ).tag(config=True)
    access = Unicode(
        "direct", help="How browsers reach the instances: direct (public IP) or ssm."
    ).tag(config=True)
    ssm_document = Unicode(
        DEFAULT_SSM_DOCUMENT,
        help="SSM session document of the ssm route's command (a name or ARN); the site's own "
        "restricts the ports (docs/ec2-instances.md).",
    ).tag(config=True)
    local_port_base = Int(
        19443,
        min=1024,
        max=64535,
        help="First local port of the ssm route's forwards (apart from the Slurm desktops').",
    ).tag(config=True)
    fast_poll = Float(
        5.0, min=1.0, help="Seconds between listings while an instance changes state."
    ).tag(config=True)
    slow_poll = Float(60.0, min=5.0, help="Seconds between listings otherwise.").tag(config=True)

    @validate("ssm_document")
    def _document_name(self, proposal: Any) -> str:
        """A bad name fails when the settings are read, naming the setting, not on a card."""
        return _checked_document_name(proposal, "InstanceSettings")


def _checked_document_name(proposal: Any, settings: str) -> str:
    """An SSM document setting's value, or a TraitError naming `c.<settings>.<name>`."""
    try:
        return check_document_name(proposal["value"], f"c.{settings}.{proposal['trait'].name}")
    except ValueError as exc:
        raise TraitError(str(exc)) from None


def _config() -> Config:
    """Every Jupyter config folder's jupyter_dcv_widget_config, merged in Jupyter's precedence."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import (
        ConfigFileNotFound,
        JSONFileConfigLoader,
        PyFileConfigLoader,
    )

    config = Config()
    # jupyter_config_path() lists the highest priority first: merge from the other end.
    for folder in reversed(jupyter_config_path()):
        for loader in (JSONFileConfigLoader, PyFileConfigLoader):
            suffix = ".json" if loader is JSONFileConfigLoader else ".py"
            try:
                config.merge(loader(CONFIG_NAME + suffix, path=folder).load_config())
            except ConfigFileNotFound:
                continue
    return config


def load_settings() -> DesktopSettings:
    """Desktop settings from every Jupyter config folder."""
    return DesktopSettings(config=_config())


def load_instance_settings() -> InstanceSettings:
    """Instance settings from every Jupyter config folder."""
    return InstanceSettings(config=_config())
