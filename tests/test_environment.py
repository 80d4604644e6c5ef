"""environment.yml (conda-forge) must list exactly pyproject.toml's dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _pins(specs) -> dict[str, str]:
    """``{name: version spec}`` with names normalised as PyPI and conda-forge compare them."""
    out = {}
    for spec in specs:
        spec = spec.replace(" ", "")
        name = re.split(r"[<>=!~\[;]", spec, maxsplit=1)[0]
        out[name.lower().replace("_", "-")] = spec[len(name) :]
    return out


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    conda_pins = _pins(c for c in conda if not c.startswith(("python", "pip")))
    want = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    assert conda_pins == want
    assert "conda-forge" in env["channels"]
    assert pip == ["--no-deps -e ."]  # the package itself; every dependency comes from conda-forge
