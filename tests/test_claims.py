"""The generated sentences follow the records: informative metrics lead, saturated ones are named; the main figures draw them."""

import subprocess

from universality.report.claims import abstract_sentence, all_pairs_sentence, experiment_sentence, saturation_sentence
from universality.report.figures import one_to_one_heatmap


def scores(observed: float, chance: float, q: float | None) -> dict:
    return {
        "observed": observed,
        "size_matched": {"null_mean": chance, "effect": (observed - chance) / (1 - chance) if chance < 1 else None, "q": q},
    }


def record(layer_a: int, layer_b: int, rsa_q: float, n: int = 10, status: str = "ok") -> dict:
    return {"layer_a": layer_a, "layer_b": layer_b, "n": n, "status": status, "svcca": scores(1.0, 1.0, 1.0), "rsa": scores(0.3, 0.01, rsa_q),
            "cka": scores(0.5, 0.45, 0.6), "procrustes": scores(0.4, 0.38, 0.7)}  # fmt: skip


RECORDS = [record(0, 0, 0.01), record(0, 1, 0.02), record(1, 0, 0.3), record(1, 1, 0.5, n=3, status="too few pairs")]


def test_the_abstract_leads_with_the_metric_above_chance_and_names_the_saturated_one():
    sentence = abstract_sentence(RECORDS)
    assert sentence.startswith("After false-discovery control over every reported test, on the one-to-one pairs RSA is above its size-matched chance "
                               "level in 2 of 3 layer pairs (median 0.300 against chance 0.010), CKA in 0 of 3 (median 0.500 against chance 0.450) and Procrustes in 0 of 3 (median 0.400")  # fmt: skip
    assert sentence.endswith("SVCCA equals its chance level of 1 at these set sizes and carries no information here.")
    assert sentence.index("RSA") < sentence.index("CKA") < sentence.index("SVCCA equals")


def test_saturation_is_explained_by_the_set_sizes_against_the_widths():
    assert (
        "On 3 of 3 scored layer pairs the one-to-one set (10 to 10 pairs) is smaller than the model widths (64 and 96)"
        in saturation_sentence(RECORDS, (64, 96))
    )
    unsaturated = [record(0, 0, 0.01) | {"svcca": scores(0.6, 0.5, 0.2)}]
    assert saturation_sentence(unsaturated, (64, 96)).startswith("SVCCA is below its ceiling")
    assert "is smaller than the model widths, so SVCCA" in saturation_sentence(RECORDS, (None, None))  # a hub model without its width


def test_the_experiment_is_named_from_the_setup():
    side = {"source": "toy_a", "spec": {"kind": "trained"}, "model_spec": {}}
    assert experiment_sentence({"a": side, "b": side | {"source": "toy_b"}}).startswith("the toy experiment, in which toy\\_a and toy\\_b")
    hub = {"source": "pythia_70m", "spec": {"kind": "pretrained"}, "model_spec": {"model_name": "pythia-70m-deduped"}}
    assert "published models pythia-70m-deduped and pythia-160m" in experiment_sentence(
        {"a": hub, "b": hub | {"model_spec": {"model_name": "pythia-160m"}}}
    )


def test_the_heatmap_stars_the_cells_that_pass_fdr_and_marks_unscored_ones(tmp_path):
    path = tmp_path / "heatmap.pdf"
    one_to_one_heatmap(RECORDS, path)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert text.count("0.29*") == 2 and "0.29\n" in text.replace(" ", "")  # RSA effect (0.3 - 0.01) / 0.99, starred where q <= 0.05
    assert text.count("sat.") == 3 and text.count("\u2013") == 4 and "layer of A" in text  # SVCCA at chance 1; the unscored layer pair


def test_the_all_pairs_sentence_reads_the_whole_pairing_of_each_layer_pair():
    buckets = [record(0, 0, 0.01, n=90) | {"subset": "cum_all"}, record(0, 1, 0.5, n=80) | {"subset": "cum_all"},
               record(0, 0, 0.01) | {"subset": "range_1"}]  # fmt: skip
    assert all_pairs_sentence(buckets) == ("On all pairs of each layer pair, many-to-one ones included, RSA is above its size-matched chance level in "
                                           "1 of 2 layer pairs (median 0.300 against chance 0.010).")  # fmt: skip
    assert all_pairs_sentence([]) == "No layer pair has enough pairs to be scored on all of them."
