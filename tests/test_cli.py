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
