"""The collapse analysis on planted mechanisms with known answers: splitting, catch-all hubs, small-n inflation."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sae_lens.synthetic import ActivationGenerator
from sae_lens.synthetic.hierarchy import HierarchyNode, hierarchy_modifier

from universality.collapse.buckets import bucket_analysis
from universality.collapse.hubs import hub_anatomies
from universality.collapse.matched import common_size, entry_scores, matched_scores, one_row_per_partner
from universality.collapse.verdict import layer_pair_trends, verdict
from universality.pairing.correlation import pair_sparse
from universality.pairing.subsets import Subset, hubs, range_buckets
from universality.report.latex import fmt
from universality.similarity.engine import Engine

PARENTS, CHILDREN, SHARED = 4, 4, 40  # parent concepts in A, children per parent in B, features both sides have 1-1
DENSE, WEAK = 1, 12  # a dense generic A feature and weak B features that lean on it
N_TOKENS, D_A, D_B = 20000, 32, 48


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def planted():
    """A world of parents with mutually exclusive children (sae_lens.synthetic's hierarchy) plus shared features;
    A's codes hold parents, shared features and a dense feature; B's hold children, shared features and weak ones."""
    torch.manual_seed(0)
    n_children = PARENTS * CHILDREN
    roots = [HierarchyNode(p, [HierarchyNode(PARENTS + p * CHILDREN + c) for c in range(CHILDREN)], mutually_exclusive_children=True)
             for p in range(PARENTS)]  # fmt: skip
    n_world = PARENTS + n_children + SHARED
    probabilities = torch.cat([torch.full((PARENTS,), 0.08), torch.full((n_children,), 0.9), torch.full((SHARED,), 0.04)])
    generator = ActivationGenerator(n_world, probabilities, std_firing_magnitudes=0.1, modify_activations=hierarchy_modifier(roots))
    world = generator.sample(N_TOKENS).numpy().clip(min=0)
    rng = np.random.default_rng(0)
    dense = (rng.random(N_TOKENS) < 0.6).astype(np.float32)
    weak = ((rng.random((N_TOKENS, WEAK)) < 0.02 + 0.03 * dense[:, None]) * 1.0).astype(np.float32)
    parents, children, shared = world[:, :PARENTS], world[:, PARENTS : PARENTS + n_children], world[:, PARENTS + n_children :]
    codes_a = np.hstack([parents, shared, dense[:, None]])
    codes_b = np.hstack([children, shared, weak])
    directions = unit(rng.normal(size=(PARENTS + SHARED + DENSE, D_A)))
    embed = np.linalg.qr(rng.normal(size=(D_B, D_A)))[0]  # B's geometry: an isometric image of A's
    child_rows = np.repeat(directions[:PARENTS], CHILDREN, axis=0) + 0.6 * unit(rng.normal(size=(n_children, D_A)))
    W_b = np.vstack([unit(child_rows) @ embed.T, directions[PARENTS : PARENTS + SHARED] @ embed.T, unit(rng.normal(size=(WEAK, D_B)))])
    pairing = pair_sparse(sp.csr_matrix(codes_a), sp.csr_matrix(codes_b), min_support=5)
    return {"codes": (sp.csr_matrix(codes_a), sp.csr_matrix(codes_b)), "W": (directions, W_b), "pairing": pairing}


def test_planted_parents_are_split_hubs_and_the_dense_feature_a_catch_all(planted, params):
    pairs, reverse = planted["pairing"].pairs, planted["pairing"].reverse
    children = pairs[pairs["b_feature"] < PARENTS * CHILDREN]
    assert (children["a_partner"].to_numpy() == children["b_feature"].to_numpy() // CHILDREN).all()  # every child finds its parent
    dense_id = PARENTS + SHARED
    weak = pairs[pairs["b_feature"] >= PARENTS * CHILDREN + SHARED]
    assert (weak["a_partner"] == dense_id).mean() > 0.8  # weak features lean on the dense one
    hub_ids = hubs(pairs, PARENTS + 1)["a_feature"].tolist()
    assert set(hub_ids) == set(range(PARENTS)) | {dense_id}
    anatomy = {hub["a_feature"]: hub for hub in hub_anatomies(pairs, reverse, *planted["codes"], *planted["W"], hub_ids, params.collapse)}
    for parent in range(PARENTS):
        hub = anatomy[parent]
        assert hub["signature"] == "split" and hub["multiplicity"] == CHILDREN
        assert hub["containment"] == pytest.approx(1.0) and hub["sibling_jaccard"] == pytest.approx(0.0, abs=1e-9)
        assert hub["parent_coverage"] > 0.9 and hub["containment_lift"] > 2  # the children cover the parent, far above chance
    catch_all = anatomy[dense_id]
    assert catch_all["signature"] == "catch-all" and catch_all["density_ratio"] > 10 and catch_all["mean_r"] < 0.1


def test_a_pure_small_n_rise_vanishes_at_matched_n(params):
    """Buckets drawn from one population differ only in size: SVCCA rises raw, not at matched n."""
    rng = np.random.default_rng(1)
    engine = Engine(0.99)
    X = rng.normal(size=(400, 16))
    Y = X @ rng.normal(size=(16, 24)) + 3.0 * rng.normal(size=(400, 24))
    pairs = pd.DataFrame({"b_feature": np.arange(400), "a_partner": np.arange(400), "r": 0.5, "multiplicity": 1})
    small, large = Subset("small", "s", "range", pairs.iloc[:20]), Subset("large", "l", "range", pairs.iloc[20:])
    analysed = bucket_analysis(engine, X, Y, [small, large], (400, 400), params.collapse, rng)
    assert analysed["common_sizes"]["matched"] == 20
    trends = layer_pair_trends(analysed["buckets"], "svcca")
    assert trends["raw"] > 0.1  # small n inflates CCA
    assert abs(trends["matched"]) < 0.15 and trends["matched_robust"] is False
    assert verdict([trends], [])["small_n"]["verdict"] == "supported"


def test_chance_band_and_interval_at_matched_n():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 8))
    scores = matched_scores(Engine(0.99), X, X @ np.linalg.qr(rng.normal(size=(8, 8)))[0], np.arange(60), 30, 50, rng, 0.9)
    rsa = scores["scores"]["rsa"]
    assert rsa["mean"] == pytest.approx(1.0) and rsa["chance_high"] < 0.5  # a rotation is found; shuffled rows are not
    assert scores["draws"] == 50 and scores["distinct_a_mean"] == 30
    exact = matched_scores(Engine(0.99), X[:30], X[:30], np.arange(30), 30, 50, rng, 0.9)
    assert exact["draws"] == 1  # a bucket of exactly the common size is scored once
    assert matched_scores(Engine(0.99), X[:10], X[:10], np.arange(10), 30, 50, rng, 0.9)["status"] == "too few pairs"


# a layer pair's trends where collapse, not small n, duplication or weak pairs, explains the rise
COLLAPSE_LIKE = {
    "raw": 0.3,
    "matched": 0.25,
    "matched_robust": True,
    "deduplicated": 0.24,
    "dedup_removed": 0.04,
    "strata_removed": 0.2,
    "median_r_fall": -0.1,
}


def test_one_row_per_partner_and_common_size():
    pairs = pd.DataFrame({"a_partner": [3, 3, 5], "b_feature": [0, 1, 2], "r": [0.2, 0.7, 0.4]})
    W_b = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    partners, mean_rows = one_row_per_partner(pairs, W_b, "mean")
    assert partners.tolist() == [3, 5] and mean_rows.tolist() == [[0.5, 0.5], [2.0, 2.0]]
    assert one_row_per_partner(pairs, W_b, "best")[1].tolist() == [[0.0, 1.0], [2.0, 2.0]]
    with pytest.raises(ValueError, match="unknown deduplication 'first'"):
        one_row_per_partner(pairs, W_b, "first")
    assert common_size([3, 40, 12], 8) == 12 and common_size([3, 5], 8) is None


def test_verdict_reads_each_explanation_from_its_numbers():
    collapse_like = dict(COLLAPSE_LIKE)
    v = verdict([collapse_like] * 3, ["neither"] * 4)
    assert v["collapse"]["verdict"] == "supported" and v["small_n"]["verdict"] == "not supported"
    assert v["duplication"]["verdict"] == "not supported" and v["weak_pairs"]["verdict"] == "not supported"
    weak_like = collapse_like | {"strata_removed": 1.0, "median_r_fall": 0.2}
    v = verdict([weak_like] * 3, ["split", "split", "catch-all"])
    assert v["weak_pairs"]["verdict"] == "supported" and v["collapse"]["verdict"] == "not supported"
    assert v["splitting"]["verdict"] == "supported" and v["splitting"]["catch_all"] == 1
    assert verdict([], [])["small_n"]["verdict"] == "untestable"


def test_range_buckets_feed_the_analysis_in_multiplicity_order(planted, params):
    pairs = planted["pairing"].pairs
    buckets = range_buckets(pairs, params.subsets.ranges)
    analysed = bucket_analysis(Engine(0.99), *planted["W"], buckets, (45, 68), params.collapse, np.random.default_rng(0))
    first, second = analysed["buckets"][:2]
    assert first["subset"] == "range_1" and first["collapse"]["distinct_partner_ratio"] == 1.0
    assert second["pairs"] == PARENTS * CHILDREN and second["distinct_a"] == PARENTS
    assert first["strength"]["r"]["median"] > 0.9  # the planted 1-1 features pair almost perfectly


def test_sentences_and_conclusion_follow_the_verdicts(params):
    from universality.report.collapse import collapse_macros

    collapse_like = dict(COLLAPSE_LIKE)
    small_n_like = collapse_like | {"matched": 0.01, "matched_robust": False}
    record = {"common_sizes": {"matched": 12, "deduplicated": 9, "strata": [None]}}
    results = {
        "layer_pairs": [record],
        "verdict": {"svcca": verdict([small_n_like] * 2, ["split"]), "rsa": verdict([collapse_like] * 3, ["split"])},
    }
    macros = collapse_macros(results, params.collapse)
    assert "in 0 of 2 layer pairs, so small-n inflation accounts for it" in macros["collapse-svcca-small-n"]
    assert "in 3 of 3 layer pairs, so small-n inflation does not account for it" in macros["collapse-rsa-small-n"]
    assert macros["collapse-rsa-conclusion"] == "For RSA the data support information collapse."
    assert macros["collapse-svcca-conclusion"].startswith("For SVCCA the data support small-n inflation")
    assert macros["collapse-matched-n"] == "12 pairs" and "1 carry the split signature" in macros["collapse-splitting"]
    empty = collapse_macros({"layer_pairs": [], "verdict": {"svcca": verdict([], []), "rsa": verdict([], [])}}, params.collapse)
    assert "untestable" in empty["collapse-rsa-small-n"] and empty["collapse-matched-n"].startswith("none")
    assert empty["collapse-rsa-conclusion"].endswith("information collapse could not be tested.")


def table_rows(table: str) -> tuple[list[str], list[list[str]]]:
    """A generated table's last head line and its data rows (no group rows or rules), as cells."""
    head, body = table.split("\\toprule\n", 1)[1].split("\\midrule\n", 1)
    body = body.split("\\endhead\n")[-1]
    rows = [
        line.removesuffix(" \\\\").split(" & ")
        for line in body.splitlines()
        if line.endswith("\\\\") and not line.startswith("\\multicolumn")
    ]
    return head.splitlines()[-1].removesuffix(" \\\\").split(" & "), rows


def wide_bucket_row(bucket: dict, metrics) -> list[str]:
    """A bucket's cells in the one wide table that the coverage and score tables replace, after its layer pair."""
    r, stats = bucket["strength"].get("r") or {}, bucket["collapse"]
    cells = [bucket["label"], str(bucket["pairs"]), str(bucket["distinct_a"]), fmt(stats["coverage_b"]), fmt(stats["effective_partners"], 1),
             fmt(r.get("median")), f"{fmt(r['q10'], 2)}--{fmt(r['q90'], 2)}" if r else "--"]  # fmt: skip
    for metric in metrics:
        matched, deduplicated = (entry_scores(bucket[key], metric) or {} for key in ("matched", "deduplicated_best"))
        cells += [
            fmt((bucket["raw"] or {}).get(metric)),
            fmt(matched.get("mean")),
            fmt(matched.get("chance_high")),
            fmt(deduplicated.get("mean")),
        ]
    return cells


def test_tables_and_figure_list_every_bucket_and_hub(planted, params, tmp_path):
    from universality.report.collapse import (
        METRICS,
        bucket_coverage_table,
        bucket_score_table,
        hub_children_table,
        hub_profile_table,
        strata_table,
    )
    from universality.report.figures import collapse_curves

    pairs, reverse = planted["pairing"].pairs, planted["pairing"].reverse
    buckets = range_buckets(pairs, params.subsets.ranges)
    record = {"layer_a": 0, "layer_b": 1} | bucket_analysis(
        Engine(0.99), *planted["W"], buckets, (45, 68), params.collapse, np.random.default_rng(0)
    )
    record["hubs"] = hub_anatomies(pairs, reverse, *planted["codes"], *planted["W"], hubs(pairs, 3)["a_feature"].tolist(), params.collapse)
    coverage, scores, strata = bucket_coverage_table([record]), bucket_score_table([record]), strata_table([record])
    for table in (coverage, scores, strata):  # a row per layer pair and bucket: long tables, the layer pair in a group row
        assert "\\begin{longtable}" in table and table.count("\\emph{Layers 0 / 1}") == 1
    (_, coverage_rows), (_, score_rows) = table_rows(coverage), table_rows(scores)
    assert [c + s[1:] for c, s in zip(coverage_rows, score_rows, strict=True)] == [wide_bucket_row(b, METRICS) for b in record["buckets"]]
    _, strata_rows = table_rows(strata)
    assert [row[0] for row in strata_rows] == [b["label"] for b in record["buckets"]] + ["common $n$"]
    assert strata_rows[-1][1:] == [str(n or "--") for n in record["common_sizes"]["strata"]]
    (profile_head, profile_rows), (children_head, children_rows) = (
        table_rows(f([record], 2)) for f in (hub_profile_table, hub_children_table)
    )
    for hub, profile, children in zip(record["hubs"][:2], profile_rows, children_rows, strict=True):
        assert profile[0] == children[0]  # both tables list the same hubs in the same order
        assert dict(zip(profile_head, profile, strict=True)) | dict(zip(children_head, children, strict=True)) == {
            "A feature": str(hub["a_feature"]), "$m$": str(hub["multiplicity"]), "density$\\times$": fmt(hub["density_ratio"], 1),
            "$\\|d\\|$": fmt(hub["decoder_norm"], 2), "mean $r$": fmt(hub["mean_r"], 2), "contained": fmt(hub["containment"], 2),
            "lift": fmt(hub["containment_lift"], 1), "sibling $J$": fmt(hub["sibling_jaccard"], 2), "sibling cos": fmt(hub["sibling_cosine"], 2),
            "reverse $m$": str(hub["reverse_multiplicity"]), "signature": hub["signature"]}  # fmt: skip
    collapse_curves([record], METRICS, tmp_path / "curves.pdf")
    assert (tmp_path / "curves.pdf").read_bytes().startswith(b"%PDF")
