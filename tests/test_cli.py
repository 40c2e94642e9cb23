import subprocess
import sys

import yaml

from universality.cli import STAGES


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "universality", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_every_stage():
    result = run_cli("--help")
    assert result.returncode == 0
    for stage in STAGES:
        assert stage in result.stdout


def test_stage_help_describes_the_stage():
    result = run_cli("pair", "--help")
    assert result.returncode == 0
    assert "Max-correlation pairing of every layer pair" in result.stdout


def test_bad_params_stop_with_the_key_named(tmp_path, params_dict):
    params_dict["filters"]["min_corelation"] = params_dict["filters"].pop("min_correlation")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_dict))
    result = run_cli("check-params", cwd=tmp_path)
    assert result.returncode != 0
    assert "unknown key 'filters.min_corelation'; did you mean 'min_correlation'?" in result.stderr
