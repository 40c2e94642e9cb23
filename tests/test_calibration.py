"""Calibration: gap fractions, the skyline's layer, seed spread, and the shuffled-window null's rows."""

from pathlib import Path

import numpy as np
import pytest

from universality.calibration.references import by_layer_pair, calibrate, gap_fraction
from universality.pairing.shuffled import shuffled_rows
from universality.similarity.metrics import METRICS


def record(layer_a: int, layer_b: int, score: float, n: int = 50, status: str = "ok") -> dict:
    return {"layer_a": layer_a, "layer_b": layer_b, "n": n, "status": status} | {m: {"observed": score} for m in METRICS}


def test_gap_fraction_is_zero_at_the_floor_one_at_the_skyline_and_none_without_a_gap():
    assert gap_fraction(0.2, 0.2, 0.8) == 0.0 and gap_fraction(0.8, 0.2, 0.8) == 1.0
    assert gap_fraction(0.5, 0.2, 0.8) == pytest.approx(0.5)
    assert gap_fraction(0.1, 0.2, 0.8) == pytest.approx(-1 / 6)  # below the floor: negative, not clipped
    assert gap_fraction(0.5, 0.8, 0.8) is None and gap_fraction(0.5, 0.9, 0.8) is None
    assert gap_fraction(None, 0.2, 0.8) is None and gap_fraction(0.5, None, 0.8) is None


def test_each_layer_pair_reads_the_skyline_at_as_layer_and_the_floor_at_the_same_pair():
    main = by_layer_pair([record(0, 1, 0.5), record(1, 0, 0.6), record(1, 1, 0.0, status="too few pairs")])
    skyline = by_layer_pair([record(0, 0, 0.9), record(1, 1, 0.7)])
    floor = by_layer_pair([record(0, 1, 0.1), record(1, 0, 0.2), record(0, 0, 0.99)])
    replicates = [by_layer_pair([record(0, 1, 0.7), record(1, 0, 0.6)]), by_layer_pair([record(0, 1, 0.3)])]
    rows = calibrate(main, skyline, floor, replicates)
    assert [(r["layer_a"], r["layer_b"]) for r in rows] == [(0, 1), (1, 0)]  # the record without scores is left out
    first, second = (r["metrics"]["svcca"] for r in rows)
    assert (first["skyline"], first["floor"]) == (0.9, 0.1) and first["gap_fraction"] == pytest.approx(0.5)
    assert (second["skyline"], second["floor"]) == (0.7, 0.2) and second["gap_fraction"] == pytest.approx(0.8)
    assert first["seeds"]["runs"] == 3 and first["seeds"]["mean"] == pytest.approx(0.5)
    assert first["seeds"]["sd"] == pytest.approx(np.std([0.5, 0.7, 0.3], ddof=1))
    assert (first["seeds"]["min"], first["seeds"]["max"]) == (0.3, 0.7)
    assert second["seeds"]["runs"] == 2 and rows[1]["n_seeds"] == [50, 50, None]  # replicate 2 lacks layer pair 1/0
    assert first["gap_fraction_seeds"]["mean"] == pytest.approx(np.mean([0.5, 0.75, 0.25]))


def test_a_layer_pair_without_skyline_or_floor_has_no_gap_fraction():
    rows = calibrate(by_layer_pair([record(2, 0, 0.5)]), {}, {}, [])
    scores = rows[0]["metrics"]["rsa"]
    assert scores["skyline"] is None and scores["gap_fraction"] is None
    assert scores["seeds"] == {"runs": 1, "mean": 0.5, "sd": None, "min": 0.5, "max": 0.5}


def test_shuffled_windows_meet_another_window_at_the_same_rank():
    rng = np.random.default_rng(0)
    counts = rng.choice([3, 5, 8], size=40)
    counts[0] = 11  # the only window with 11 counted tokens: nothing to swap with, dropped
    windows = np.repeat(np.arange(40), counts)
    rank = np.concatenate([np.arange(c) for c in counts])
    rows_a, rows_b = shuffled_rows(windows, seed=3)
    assert len(rows_a) == len(windows) - 11 and len(np.unique(rows_a)) == len(rows_a)
    assert np.all(windows[rows_a] != windows[rows_b])
    assert np.array_equal(rank[rows_a], rank[rows_b]) and np.array_equal(counts[windows[rows_a]], counts[windows[rows_b]])
    assert np.array_equal(np.sort(rows_b), np.sort(rows_a))  # B's kept tokens are A's kept tokens, reordered
    again, other = shuffled_rows(windows, seed=3), shuffled_rows(windows, seed=4)
    assert np.array_equal(again[1], rows_b) and not np.array_equal(other[1], rows_b)


def test_shuffled_rows_need_tokens_in_window_order():
    with pytest.raises(ValueError, match="window order"):
        shuffled_rows(np.array([0, 1, 0]), seed=0)


def test_single_token_windows_are_shuffled_token_by_token():
    rows_a, rows_b = shuffled_rows(np.arange(10), seed=0)
    assert len(rows_a) == 10 and np.all(rows_a != rows_b)


def test_a_skyline_of_model_b_is_read_at_bs_layer():
    rows = calibrate(by_layer_pair([record(0, 2, 0.5)]), by_layer_pair([record(0, 0, 0.6), record(2, 2, 0.9)]), {}, [], skyline_side="b")
    assert rows[0]["metrics"]["svcca"]["skyline"] == 0.9


def test_a_replicate_missing_from_the_stages_deps_stops_the_stage(params, tmp_path, monkeypatch):
    import yaml

    from universality.stages import calibration

    dvc_yaml = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())
    dvc_yaml["stages"]["calibration"]["deps"].remove("results/main_r3/main_one_to_one")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"dvc.yaml: stage calibration lacks the deps \['results/main_r3/main_one_to_one'\]"):
        calibration.run(params)


ALIGNED = {"L0_L1": {"filters": {"kept": 40}}, "L1_L1": {"filters": {"kept": 25}}}  # the pair summary of the aligned windows


def test_the_shuffled_windows_sentence_compares_the_kept_pairs_with_the_aligned_ones():
    from universality.report.calibration import calibration_macros

    def verdict(kept: int) -> str:
        shuffled = [{"kept": kept, "one_to_one_n": 1}, {"kept": 2, "one_to_one_n": 0}]
        return calibration_macros({"layer_pairs": [], "shuffled": shuffled, "comparisons": {"replicates": []}}, ALIGNED)["shuffled-verdict"]

    assert verdict(3) == ("With the windows of B shuffled against those of A, at most 3 pairs per layer pair pass every filter, against at least 25 "
                          "with the windows aligned, and at most 1 are one-to-one: the pairing depends on the tokens being aligned.")  # fmt: skip
    assert verdict(30).endswith("as many as the 25 of the aligned windows on one layer pair, and up to 1 are one-to-one: the filters do not "
                                "tell aligned tokens from shuffled ones.")  # fmt: skip


def test_the_gap_sentence_says_why_a_metric_has_no_gap_fraction():
    from universality.report.calibration import calibration_macros

    def macros(floor: dict) -> str:
        rows = calibrate(by_layer_pair([record(0, 1, 0.5)]), by_layer_pair([record(0, 0, 0.9)]), floor, [])
        return calibration_macros({"layer_pairs": rows, "shuffled": [], "comparisons": {"replicates": []}}, ALIGNED)["calibration-gaps"]

    assert macros(by_layer_pair([record(0, 1, 0.1)])).startswith(
        "for SVCCA it is 0.50 on the one layer pair with a skyline above its floor"
    )
    assert macros(by_layer_pair([record(0, 1, 0.95)])).startswith("for SVCCA no layer pair has a skyline above its floor")
    assert macros({}).startswith("for SVCCA no layer pair has both a skyline and a floor")  # the floor had too few pairs


def test_the_band_figure_draws_every_layer_pair_and_survives_a_missing_floor(tmp_path):
    import subprocess

    from universality.report.calibration import calibration_figure

    main = by_layer_pair([record(0, 1, 0.5), record(1, 1, 0.4)])
    rows = calibrate(main, by_layer_pair([record(0, 0, 0.9), record(1, 1, 0.8)]), by_layer_pair([record(0, 1, 0.1)]), [main])
    calibration_figure(rows, tmp_path / "band.pdf")
    text = subprocess.run(["pdftotext", str(tmp_path / "band.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert text.count("0/1") == 2 and text.count("1/1") == 2  # both layer pairs on both panels, the second without a floor
    assert all(label in text for label in ("SVCCA", "RSA", "floor to skyline", "skyline (other SAE seed)", "floor (untrained B)"))
