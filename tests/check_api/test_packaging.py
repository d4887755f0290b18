"""The wheel installs everything under the one namespace `rlspec`, with the spec entries,
and works from a fresh virtual environment (not from this checkout)."""

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
MODULES = [
    "rlspec", "rlspec.validation", "rlspec.spec.registry", "rlspec.checks.verify", "rlspec.cli",
    "rlspec.checks.runner", "rlspec.checks.batteries", "rlspec.checks.adapters",
    "rlspec.checks.core", "rlspec.checks.worker", "rlspec.checks.candidate", "rlspec.checks.report",
    *(f"rlspec.reference.{path.stem}" for path in sorted((ROOT / "reference").glob("[!_]*.py"))),
    *(f"rlspec.oracles.{path.stem}" for path in sorted((ROOT / "oracles").glob("[!_]*.py"))),
    *(f"rlspec.toy_mdps.{path.stem}" for path in sorted((ROOT / "toy_mdps").glob("[!_]*.py"))),
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy so that setuptools' build/ and egg-info stay out of the checkout.
    source = tmp_path_factory.mktemp("source") / "rlspec"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(out), str(source)], check=True, timeout=300)
    (built,) = out.glob("rlspec-*.whl")
    return built


@pytest.mark.slow
def test_wheel_puts_everything_under_rlspec(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert all(name.startswith(("rlspec/", "rlspec-")) for name in names), names
    assert any(name.startswith("rlspec/spec/entries/") and name.endswith(".md") for name in names)
    for module in MODULES:
        assert module.replace(".", "/") + ".py" in names or \
            module.replace(".", "/") + "/__init__.py" in names, module


@pytest.mark.slow
def test_wheel_installs_and_imports_in_a_fresh_environment(wheel, tmp_path):
    # The test's own environment supplies numpy, torch and the rest without a download: a
    # .pth line puts its site-packages on the new environment's path, after the new one's
    # own.  (Inheriting the *base* interpreter's packages would find nothing on a machine
    # whose base Python is bare.)  A directory named in a .pth file has its own .pth files
    # ignored, so the editable install of this checkout stays out and the wheel is imported.
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    new_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    Path(new_site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)],
                   check=True, timeout=300)
    script = (
        "import importlib, rlspec\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "assert 'env' in rlspec.__file__, rlspec.__file__\n"
        "assert len(rlspec.entries()) > 0\n"
        "from rlspec.reference.returns import discounted_returns\n"
        "print(rlspec.check('mdp.return', discounted_returns, max_examples=5).passed)\n"
    )
    result = subprocess.run([python, "-c", script], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True")
    cli = subprocess.run([tmp_path / "env" / "bin" / "rlspec", "list", "mdps"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert cli.returncode == 0 and "sb-gridworld-5x5" in cli.stdout
