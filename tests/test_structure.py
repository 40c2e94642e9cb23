"""The package's shape: no import cycle between packages, domain code free of files and scheduling."""

from import_closure import cycles, package_graph

DOMAIN = ("pairing", "similarity", "collapse", "sensitivity", "subspaces", "calibration")  # take arrays, return records
IO_AND_SCHEDULING = {"io", "layout", "executors", "artifacts", "stages", "commands", "layer_pairs"}


def test_no_package_imports_itself_through_another():
    assert cycles(package_graph()) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"pairing": {"activations"}, "activations": {"token_sets"}, "token_sets": {"pairing", "io"}, "io": set()}
    assert cycles(graph) == [["activations", "pairing", "token_sets"]]
    assert cycles(graph | {"token_sets": {"io"}}) == []


def test_domain_packages_do_no_file_io_and_no_fan_out():
    graph = package_graph()
    found = {package: sorted(graph[package] & IO_AND_SCHEDULING) for package in DOMAIN if graph[package] & IO_AND_SCHEDULING}
    assert found == {}
