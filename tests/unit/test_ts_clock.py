"""The front-end's clock correction (js/src/time.ts: clockOffset, ServerClock), compiled by the
project's own TypeScript and run in node: the pure parts, without a browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).parents[2] / "js"
# The checkout's own npm install, else the copy scripts/setup-system.sh keeps for offline builds
# (CI's test tree is a copy without node_modules).
TSC_PLACES = [
    JS / "node_modules" / "typescript" / "bin" / "tsc",
    Path("/opt/dcv-widget/js-deps/node_modules/typescript/bin/tsc"),
]

CHECKS = """
const t = require('./time.js');
const out = {};
// The server said 1000 between 100 and 102 (browser): it runs 899 s ahead.
out.offset = t.clockOffset(1000, 100, 102);
const clock = new t.ServerClock();
out.unmeasured = clock.now(50);
clock.measure(1000, 100, 102);
out.measured = clock.now(200);
// A reading within the tolerance (HTTP Date's whole seconds) keeps the offset in use...
clock.measure(1001, 100, 102);
out.jitter = clock.now(200);
// ...a clock that really moved replaces it.
clock.measure(1100, 100, 102);
out.moved = clock.now(200);
// A browser 7 minutes ahead counts down on the server's clock all the same.
const skewed = new t.ServerClock();
skewed.measure(1000, 1420, 1420);
out.left = t.leftText(1900, skewed.now(1420));
out.idle = t.idleText(130, 10);
out.idleOver = t.idleText(10, 10);
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = shutil.which("node")
    tsc = next((place for place in TSC_PLACES if place.exists()), None)
    if node is None or tsc is None:
        if os.environ.get("CI"):  # set up by scripts/test.sh: skipping would hide the test
            pytest.fail(f"node and TypeScript are needed; none of {TSC_PLACES} exists")
        pytest.skip("node and js/node_modules (npm install in js/) are needed")
    out = tmp_path_factory.mktemp("ts")
    subprocess.run(
        [node, str(tsc), "--outDir", str(out), "--module", "commonjs", "--target", "es2020",
         "--lib", "es2020,dom", "--strict", str(JS / "src" / "time.ts")],
        check=True,
    )  # fmt: skip
    return out


def run(compiled: Path) -> dict[str, object]:
    result = subprocess.run(
        ["node", "-e", CHECKS], cwd=compiled, capture_output=True, text=True, check=True
    )
    values: dict[str, object] = json.loads(result.stdout)
    return values


def test_the_offset_is_the_servers_time_minus_the_browsers_halfway_through_the_request(
    compiled: Path,
) -> None:
    values = run(compiled)
    assert values["offset"] == 899
    assert values["unmeasured"] == 50  # no reading yet: the browser's own clock
    assert values["measured"] == 200 + 899
    assert values["jitter"] == 200 + 899
    assert values["moved"] == 200 + 999
    assert values["left"] == "15m 00s left"
    assert values["idle"] == "Nobody connected: ends in 2m 00s unless someone connects"
    assert values["idleOver"] == "Nobody connected: ending now (idle timeout)"
