"""scripts/tutorial-copies.sh, which keeps the demo user's copies of the tutorials: refreshed
when a tutorial changes, a copy the user changed kept beside the new one, never overwritten."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "tutorial-copies.sh"


def copy_tutorials(shipped: Path, copies: Path) -> str:
    """Run the script as demo.sh does (its text on bash's stdin); what it said."""
    done = subprocess.run(
        ["bash", "-s", "--", str(shipped), str(copies)],
        input=SCRIPT.read_text(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_copies_follow_the_tutorials_and_the_users_changes_are_kept(tmp_path: Path) -> None:
    shipped, copies = tmp_path / "shipped", tmp_path / "copies"
    shipped.mkdir()
    for name in ("01-a.ipynb", "02-b.ipynb", "03-c.ipynb"):
        (shipped / name).write_text(f"{name} v1")
    # A copy from before copies were recorded (an earlier demo), which the user edited.
    copies.mkdir()
    (copies / "03-c.ipynb").write_text("03 as the user left it")

    said = copy_tutorials(shipped, copies)
    assert (copies / "01-a.ipynb").read_text() == "01-a.ipynb v1"
    assert (copies / "03-c.ipynb").read_text() == "03-c.ipynb v1"
    (kept,) = copies.glob("03-c.before-*.ipynb")
    assert kept.read_text() == "03 as the user left it"
    assert f"03-c.ipynb: the tutorial changed; your copy is kept as {kept.name}" in said

    # The user edits 01 (or saves it with outputs); the tutorials stay as they were.
    (copies / "01-a.ipynb").write_text("01 with the user's outputs")
    assert copy_tutorials(shipped, copies) == ""
    assert (copies / "01-a.ipynb").read_text() == "01 with the user's outputs"

    # A newer checkout changes 01 and 02: the untouched copy of 02 is simply refreshed; the
    # edited 01 is kept beside the new one.
    for name in ("01-a.ipynb", "02-b.ipynb"):
        (shipped / name).write_text(f"{name} v2")
    said = copy_tutorials(shipped, copies)
    assert (copies / "01-a.ipynb").read_text() == "01-a.ipynb v2"
    assert (copies / "02-b.ipynb").read_text() == "02-b.ipynb v2"
    (edited,) = copies.glob("01-a.before-*.ipynb")
    assert edited.read_text() == "01 with the user's outputs"
    assert not list(copies.glob("02-b.before-*")) and "02-b" not in said
    assert sorted(p.name for p in copies.glob("*.before-*")) == sorted([kept.name, edited.name])
