import pytest

from universality.report.latex import fmt, fmt_p, latex_text
from universality.report.numbers import _dead_feature_macros, planted_verdict
from universality.report.tables import bucket_table, filter_table, hub_table, one_to_one_table, rule_size_table, summary_metrics


def record(**overrides):
    base = {
        "layer_a": 1,
        "layer_b": 2,
        "subset": "one_to_one",
        "label": "$m = 1$",
        "kind": "range",
        "n": 40,
        "distinct_a": 40,
        "status": "ok",
        "svcca": {
            "observed": 0.97123,
            "k_x": 34,
            "k_y": 32,
            "row_shuffle": {"p": 0.000999},
            "group": {"p": 0.002},
            "size_matched": {"null_mean": 0.9, "null_sd": 0.007, "p": 0.04, "q": 0.08, "effect": 0.71},
        },
        "rsa": {
            "observed": 0.6,
            "row_shuffle": {"p": 0.5},
            "group": {"p": 0.6},
            "size_matched": {"null_mean": -0.0002, "null_sd": 0.036, "p": 0.7, "effect": 0.6},
        },
    }
    return base | overrides


def test_number_formatting_never_shows_negative_zero():
    assert fmt(-0.0002) == "0.000" and fmt(-0.0006) == "-0.001" and fmt(0.97123) == "0.971"
    assert fmt_p(0.5) == "0.500" and fmt_p(0.000999) == "1.0e-03"


def test_one_to_one_table_rows_hold_the_formatted_results():
    sizes = {"unique_partner": 12, "mutual_nn": 25, "assignment": 40, "paper_first_occurrence": 31}
    summary = {"L1_L2": {"one_to_one": {rule: {"n": n} for rule, n in sizes.items()}}}
    table = one_to_one_table([record()], summary, "assignment")
    # RSA has no q yet: "--"; then the sizes under the other rules, in their order
    assert "1 / 2 & 40 & 0.971 & 0.900 & 0.040 & 0.080 & 0.600 & 0.000 & 0.700 & -- & 12 / 25 / 31 \\\\" in table
    assert "$n_u$ / $n_m$ / $n_f$ \\\\" in table
    missing = one_to_one_table([record(status="too few pairs")], summary, "unique_partner")
    assert "1 / 2 & 40 & \\multicolumn{8}{c}{too few pairs} & 25 / 40 / 31 \\\\" in missing and "$n_m$ / $n_a$ / $n_f$" in missing
    assert table.count("\\toprule") == 1 and table.count("\\bottomrule") == 1 and "longtable" not in table


def test_bucket_tables_give_one_metric_each_with_every_null_and_q():
    svcca, rsa = bucket_table([record()], "svcca"), bucket_table([record()], "rsa")
    assert "$m = 1$ & 40 & 40 & 34/32 & 0.971 & 0.900 & 0.710 & 1.0e-03 & 0.002 & 0.040 & 0.080 \\\\" in svcca
    assert "\\emph{Layers 1 / 2}" in svcca and "\\begin{longtable}" in svcca and "0.600" not in svcca and "0.600" in rsa


def test_a_bucket_with_too_few_pairs_shows_no_score():
    table = bucket_table([record(n=2, distinct_a=1, status="too few pairs")], "svcca")
    assert "$m = 1$ & 2 & 1 & \\multicolumn{8}{c}{too few pairs} \\\\" in table
    assert "0.971" not in table


def test_dead_and_rare_features_count_each_layer_once_across_layer_pairs():
    summaries = [
        {"layer_a": la, "layer_b": lb, "dead_a": 10 + la, "dead_b": 100 + lb, "rare_a": 1, "rare_b": lb, "n_features_a": 64, "n_features_b": 96,
         "min_support": 5}
        for la in range(2)
        for lb in range(3)
    ]  # fmt: skip
    assert _dead_feature_macros(summaries) == {
        "dead-a": "21", "features-a": "128", "dead-b": "303", "features-b": "288", "rare-a": "2", "rare-b": "3", "min-support": "5",
    }  # fmt: skip


def test_filter_table_shows_removals_in_order_and_off_filters():
    filters = {"pairs": 700, "kept": 80, "correlation": {"enabled": True, "removed": 600}, "non_concept": {"enabled": True, "removed": 20},
               "held_out": {"enabled": False, "removed": 0}}  # fmt: skip
    rules = {"unique_partner": {"n": 30}, "mutual_nn": {"n": 40}, "assignment": {"n": 60}, "paper_first_occurrence": {"n": 55}}
    summary = {"L0_L1": {"layer_a": 0, "layer_b": 1, "rare_a": 3, "rare_b": 4, "filters": filters, "one_to_one": rules, "unique_partner_share": 0.25,
                         "mutual_share": 0.125}}  # fmt: skip
    assert "0 / 1 & 3 / 4 & 700 & 600 & 20 & off & 80 \\\\" in filter_table(summary)
    assert "0 / 1 & 30 & 40 & 60 & 55 & 25.0\\% & 12.5\\% \\\\" in rule_size_table(summary)


def test_latex_text_escapes_specials_and_non_ascii():
    assert latex_text("50% of $x_1 & {y}\u00e9\n z") == "50\\% of \\$x\\_1 \\& \\{y\\}? z"


def test_hub_table_marks_the_activating_token():
    hubs = {"L1_L2": [{"a_feature": 7, "multiplicity": 19, "mean_r": 0.4, "contexts": ["a kind of[[ tree]] that"]}]}
    table = hub_table(hubs, per_layer_pair=3)
    assert "\\emph{Layers 1 / 2}" in table and "7 & 19 & 0.40 & a kind of\\textbf{[ tree]} that \\\\" in table


def scored_record(row: float, size: float) -> dict:
    return {"status": "ok", "svcca": {"row_shuffle": {"p": row}, "size_matched": {"p": size}}}


@pytest.mark.parametrize(
    ("related", "unrelated", "verdict"),
    [
        (0.001, 0.5, "tells the related geometry from the unrelated one"),
        (0.001, 0.01, "calls both geometries similar, so it does not tell them apart"),
        (0.3, 0.5, "calls neither geometry similar"),
        (0.3, 0.01, "calls the unrelated geometry similar and the related one not"),
    ],
)
def test_planted_verdict_follows_the_p_values_of_each_null(related, unrelated, verdict):
    row_first = planted_verdict([scored_record(related, 0.5)], [scored_record(unrelated, 0.5)])
    assert row_first.startswith(f"At the 0.05 level, under the row-shuffle null SVCCA {verdict};")
    size_second = planted_verdict([scored_record(0.5, related)], [scored_record(0.5, unrelated)])
    assert size_second.endswith(f"under the size-matched null SVCCA {verdict}.")


def test_planted_verdict_says_when_a_comparison_could_not_be_scored():
    assert "too few one-to-one pairs" in planted_verdict([{"status": "too few pairs"}], [scored_record(0.5, 0.5)])


def test_a_null_with_a_status_gives_no_p_and_no_verdict():
    with_status = scored_record(0.001, None)
    assert "has a status instead of a p-value" in planted_verdict([with_status], [scored_record(0.5, 0.5)])
    assert fmt_p(None) == "--" and fmt(None) == "--"


def test_the_headline_gives_each_scale_condition_at_the_worst_layer_pair():
    layer = {"n_features_a": 100, "n_features_b": 200, "live_a": 90, "live_b": 150, "d_model": 10, "unique_partners": 30,
             "max_multiplicity": 15, "mutual_strong": 45}  # fmt: skip
    summary = {
        "L1_L2": layer | {"dead_a": 5, "dead_b": 20},  # dead 5% and 10%
        "L1_L3": layer | {"dead_a": 30, "dead_b": 0, "unique_partners": 12, "max_multiplicity": 3, "mutual_strong": 60},
    }
    records = [record(), record(layer_b=3, n=25, status="too few pairs")]
    headline = summary_metrics(records, summary)
    assert headline["layer_pairs"] == 2 and headline["scored"] == 1 and headline["n"] == 40 and headline["svcca"] == 0.97123
    assert headline["dead"] == 0.3 and headline["n_per_d"] == 2.5 and headline["unique"] == 12
    assert headline["max_m"] == 3 / 150 and headline["mnn"] == 45 / 150  # over the larger side's pairable features
