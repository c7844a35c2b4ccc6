"""A user's own launch presets, in `<jupyter data dir>/dcv_widget/presets.json`.

The file is private (0600 in a 0700 folder), written atomically (a temporary file renamed over
it) under a lock, so two kernels saving at once lose nothing. It is checked when read, preset by
preset: a broken file or preset is reported by its path and skipped, never breaking the form.

    {"presets": [{"name": "Big", "cpus": 8, "time": "4:00:00", ...}, ...]}
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .presets import Preset, check_name, find, parse_preset
from .request import InvalidRequest, LaunchRequest

FILE_NAME = "presets.json"


def default_path() -> Path:
    """Where a user's presets live: the Jupyter data dir (JUPYTER_DATA_DIR moves it)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "dcv_widget" / FILE_NAME


class PresetStore:
    """The user's presets file. `build` checks a preset's values as a launch would
    (settings.request: the site's defaults and bounds)."""

    def __init__(self, path: Path, build: Callable[..., LaunchRequest]) -> None:
        self.path = path
        self._build = build

    def load(self) -> tuple[list[Preset], list[str]]:
        """The presets that pass their checks, and what is wrong with the others (or with the
        file), each naming the file and saying what to do."""
        try:
            entries = self._entries()
        except (OSError, ValueError) as exc:
            return [], [
                f"Your presets file {self.path} could not be read ({exc}); fix or delete it. "
                "Saving a preset starts it anew."
            ]
        presets: list[Preset] = []
        problems = []
        for entry in entries:
            try:
                preset = parse_preset(entry, str(self.path), self._build, mine=True)
            except InvalidRequest as exc:
                problems.append(f"{exc} (this preset is not offered; save it again or delete it)")
                continue
            if find(presets, preset.name) is None:
                presets.append(preset)
        return presets, problems

    def save(self, name: str, values: dict[str, Any], reserved: list[Preset]) -> Preset:
        """Save (or replace) the user's preset `name` with launch `values`; InvalidRequest if the
        name is not one, or is a site preset's (`reserved`)."""
        name = check_name(name, "Preset")
        taken = find(reserved, name)
        if taken is not None:
            raise InvalidRequest(
                "name",
                name,
                f"the site has a preset called {taken.name!r}; choose another name",
                label="Preset name",
            )
        preset = parse_preset({"name": name, **values}, "Preset", self._build, mine=True)
        with self._locked():
            entries = self._entries_or_none()
            kept = [e for e in entries if not _named(e, name)]
            self._write([*kept, {"name": preset.name, **preset.values}])
        return preset

    def delete(self, name: str) -> bool:
        """Delete the user's preset `name`; False if there was none."""
        with self._locked():
            entries = self._entries_or_none()
            kept = [e for e in entries if not _named(e, name)]
            if len(kept) == len(entries):
                return False
            self._write(kept)
        return True

    def _entries(self) -> list[Any]:
        """The file's preset entries ([] without a file); ValueError for a file not in the
        documented shape."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("presets"), list):
            raise ValueError('expected {"presets": [...]}')
        return list(data["presets"])

    def _entries_or_none(self) -> list[Any]:
        """The entries to keep when writing: a broken file is replaced (its load said so)."""
        try:
            return self._entries()
        except (OSError, ValueError):
            return []

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        fd = os.open(folder / ".presets.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, entries: list[Any]) -> None:
        """The file replaced at once: readers see the old one or the new one, never half."""
        temporary = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"presets": entries}, out, indent=1)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise


def _named(entry: Any, name: str) -> bool:
    return isinstance(entry, dict) and str(entry.get("name", "")).casefold() == name.casefold()
