"""The sensitivity grid: one choice changed at a time, the direction and token-prefix rules, and how the grid is reported."""

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

from universality.activations.cache import ActivationCache
from universality.pairing.subsets import ONE_TO_ONE_RULES, one_to_one
from universality.report.sensitivity import sensitivity_figure, sensitivity_macros, sensitivity_table
from universality.sensitivity.variants import GROUPS, first_windows, partner_agreement, variants
from universality.stages.sensitivity import pair_variant


def test_every_group_holds_the_papers_setting_once_and_changes_only_its_own_choice(params):
    grid = variants(params)
    assert list(dict.fromkeys(v.group for v in grid)) == list(GROUPS)
    base = next(v for v in grid if v.baseline)
    assert (base.filters, base.rule, base.direction, base.token_fraction) == (params.filters, params.subsets.one_to_one, "b_to_a", 1.0)
    for group in GROUPS:
        members = [v for v in grid if v.group == group]
        assert sum(v.baseline for v in members) == 1, group
        for v in members:
            changed = {f for f in ("filters", "rule", "direction", "token_fraction") if getattr(v, f) != getattr(base, f)}
            assert changed <= {"rule": {"rule"}, "direction": {"direction"}, "tokens": {"token_fraction"}}.get(group, {"filters"}), (
                group,
                v.value,
            )
            assert v.baseline == (not changed)
    assert [v.rule for v in grid if v.group == "rule"] == list(ONE_TO_ONE_RULES)
    assert [v.value for v in grid if v.group == "non_concept"] == ["off", "top 5", "top 10", "top 20"]
    assert [v.value for v in grid if v.group == "tokens"] == ["1/8", "1/4", "1/2", "all"]
    assert len({v.pairing_key for v in grid}) == 1 + 1 + 3 + 3 + 1 + 3  # rules share the paper's pairing


def test_a_prefix_keeps_whole_first_windows_and_agreement_counts_kept_partners():
    windows = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    assert first_windows(windows, 0.5).tolist() == [True] * 5 + [False] * 5
    assert first_windows(windows, 0.01).sum() == 3  # never empty: at least the first window
    pairs = pd.DataFrame({"b_feature": [0, 1, 2, 5], "a_partner": [3, 4, 9, 1]})
    reference = pd.DataFrame({"b_feature": [0, 1, 2, 3], "a_partner": [3, 4, 5, 6]})
    assert partner_agreement(pairs, reference) == 2 / 3  # B features 0, 1, 2 are in both; 2 changed partner


def test_mutual_nearest_neighbours_are_the_same_pairs_in_both_directions(params):
    rng = np.random.default_rng(0)
    fires = lambda n: rng.random((2000, n)) * (rng.random((2000, n)) < 0.15)  # noqa: E731
    dense_a = fires(12)
    order = rng.permutation(12)  # B feature j is A feature order[j], rescaled and noisy, then 4 features of its own
    dense_b = np.hstack([dense_a[:, order] * (1 + 0.2 * rng.random((2000, 12))), fires(4)])
    caches = tuple(ActivationCache(sp.csr_matrix(d), rng.normal(size=(d.shape[1], 8)), {"d_model": 8}) for d in (dense_a, dense_b))
    grid = {v.direction: dataclasses.replace(v, rule="mutual_nn") for v in variants(params) if v.group == "direction"}
    found = {}
    for direction, variant in grid.items():
        tables, n_tokens, (_W_partner, W_query) = pair_variant(params, variant, caches, None)
        kept = tables.pairs[tables.pairs["kept"]]
        found[direction] = one_to_one(kept, "mutual_nn").pairs
        assert n_tokens == 2000 and W_query is caches["ab".index(direction[0])].W_dec
    forward = set(zip(found["b_to_a"]["b_feature"], found["b_to_a"]["a_partner"], strict=True))
    assert forward == set(zip(found["a_to_b"]["a_partner"], found["a_to_b"]["b_feature"], strict=True))
    assert forward == {(j, int(order[j])) for j in range(12)}


def record(group, value, layer_b, rsa, p, baseline=False, n=30):
    null = {"p": p, "effect": rsa / 2}
    return {"layer_a": 0, "layer_b": layer_b, "group": group, "value": value, "baseline": baseline, "n": n, "kept_pairs": 3 * n,
            "partner_agreement": 0.5 if group == "tokens" and value != "all" else 1.0, "status": "ok",
            "svcca": {"observed": 0.9, "size_matched": null}, "rsa": {"observed": rsa, "size_matched": null}}  # fmt: skip


def test_table_figure_and_sentences_mark_the_papers_setting_and_where_significance_is_lost(tmp_path):
    records = [record("rule", "unique_partner", b, 0.4, 0.01, baseline=True) for b in (0, 1)]
    records += [record("rule", "assignment", b, 0.2, 0.01 if b == 0 else 0.2) for b in (0, 1)]
    records += [record("tokens", "1/8", b, 0.1, 0.5) for b in (0, 1)] + [
        record("tokens", "all", b, 0.4, 0.01, baseline=True) for b in (0, 1)
    ]
    table = sensitivity_table(records)  # each choice a group row over its settings' rows
    assert (
        "\\emph{1-1 rule}} \\\\*\nunique partner$^\\ast$ & 90 & 30 & 100.0\\% & 2 of 2 & 0.900 & 0.400 & 0.200 & 2 \\\\\n"
        "assignment & 90 & 30 & 100.0\\% & 2 of 2 & 0.900 & 0.200 & 0.100 & 1 \\\\\n\\multicolumn{9}{@{}l}{\\emph{tokens}}"
    ) in table
    assert "1/8 & 90 & 30 & 50.0\\% & 2 of 2 & 0.900 & 0.100 & 0.050 & 0" in table and "\\begin{longtable}" in table
    macros = sensitivity_macros(records)
    assert "ranges from 0.100 (tokens 1/8) to 0.400 (1-1 rule unique partner)" in macros["sens-summary"]
    assert "Fewer layer pairs are significant under 2 settings (1-1 rule assignment: 1; tokens 1/8: 0)." in macros["sens-summary"]
    assert "No setting makes more layer pairs significant." in macros["sens-summary"]
    assert "is 50.0\\% with 1/8 of the windows" in macros["sens-tokens"]
    sensitivity_figure(records, tmp_path / "sensitivity.pdf")
    assert (tmp_path / "sensitivity.pdf").read_bytes().startswith(b"%PDF")
