import shutil
import subprocess
import sys
import sysconfig

import yaml
from tiny_project import copy_project

from universality.cli import STAGES


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "universality", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_every_stage():
    result = run_cli("--help")
    assert result.returncode == 0
    for stage in STAGES:
        assert stage in result.stdout


def test_stage_help_describes_the_stage_and_what_it_names():
    result = run_cli("pair", "--help")
    assert result.returncode == 0
    assert "pair, filter and size the 1-1 rules of a comparison" in result.stdout
    assert "an entry of params.yaml `comparisons`" in result.stdout


def test_unknown_name_lists_the_entries_of_its_section():
    result = run_cli("pair", "no_such_comparison")
    assert result.returncode != 0
    assert (
        "'no_such_comparison' is not an entry of params.yaml `comparisons` (main, main_r2, main_r3, skyline, floor, shuffled, planted_related, planted_unrelated)"
        in result.stderr
    )


def test_bad_params_stop_with_the_key_named(tmp_path, params_dict):
    params_dict["filters"]["min_corelation"] = params_dict["filters"].pop("min_correlation")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_dict))
    result = run_cli("check-params", cwd=tmp_path)
    assert result.returncode != 0
    assert "unknown key 'filters.min_corelation'; did you mean 'min_correlation'?" in result.stderr


def test_a_copied_environment_running_another_checkouts_code_is_refused_and_make_setup_points_it_here(tmp_path):
    """A checkout copied with its .venv: the editable install still imports the original's src/. Simulated with a light
    virtual environment that reads this one's packages (a path line) and holds its own editable install of `original`."""
    original, moved = tmp_path / "original", tmp_path / "moved"
    copy_project(original)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(original / ".venv")], check=True)
    site = next((original / ".venv/lib").glob("python*/site-packages"))
    (site / "packages_of_the_test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = [str(original / ".venv/bin/python")]
    install = [*python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(original)]
    subprocess.run(install, check=True, capture_output=True)
    (original / ".venv/.installed").write_text(f"{original}\n")
    shutil.copytree(original, moved, symlinks=True)
    cli = moved / "src/universality/cli.py"
    cli.write_text(cli.read_text() + "# edited after the move\n")
    check = [str(moved / ".venv/bin/python"), "-m", "universality", "check-params"]
    refused = subprocess.run(check, cwd=moved, capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
        f"error: python imports universality from {original}, whose code differs from this checkout's ({moved}): "
        "the virtual environment was copied from there; run `make setup` here, which points it here"
    )
    subprocess.run(["make", "setup"], cwd=moved, check=True, capture_output=True)
    assert subprocess.run(check, cwd=moved, capture_output=True, text=True).returncode == 0
