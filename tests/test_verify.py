"""Reading a built PDF back: the numbers a LaTeX row prints, rows and macros missing from a text, overfull boxes."""

import pytest

from universality.commands import verify
from universality.report.latex import NonFiniteValue, fmt, fmt_p, group_row, table_row, tabular
from universality.report.readback import latex_numbers, missing_macros, missing_rows, overfull_boxes, printed_numbers, table_rows

TABLE = tabular(
    "lrr",
    [table_row(["", "\\multicolumn{2}{c}{SVCCA}"]), "\\cmidrule(lr){2-3}\n", table_row(["Layers", "score", "$p$ ($\\le 0.05$)"])],
    [
        group_row("Layers 0 / 1", 3),
        table_row(["$m \\le 10$", "0.912", "1.0e-03"]),
        table_row(["all", "12{,}345", "\\multicolumn{1}{c}{too few pairs}"]),
    ],
    long=True,
)


def test_latex_numbers_are_what_the_row_prints():
    assert latex_numbers("\\multicolumn{7}{c}{too few pairs} & 3 \\\\") == ["3"]
    assert latex_numbers("\\cmidrule(lr){3-7}") == []
    assert latex_numbers("$2 \\le m \\le 10$ & -0.051 & 0.153 $\\pm$ 0.218 & 65.6\\% & 12{,}345 & 1.0e-03") == ["2", "10", "0.051", "0.153", "0.218", "65.6",
                                                                                                             "12345", "1.0e-03"]  # fmt: skip


def test_long_table_rows_leave_out_the_caption_and_the_continuation_note():
    rows = table_rows(TABLE)
    assert not any("uvcaption" in row or "continued" in row for row in rows)
    assert len(rows) == 2 * 2 + 3  # the head twice (first page, later pages), the group row, two rows


def test_a_row_is_found_only_with_all_its_numbers_in_order():
    printed = "Layers score p (≤ 0.05)\nLayers 0 / 1\nm ≤ 10   0.912   1.0e-03\nall  12,345  too few pairs\n"
    assert missing_rows(TABLE, printed_numbers(printed)) == []
    tampered = printed.replace("0.912", "0.913")
    assert missing_rows(TABLE, printed_numbers(tampered)) == ["$m \\le 10$ & 0.912 & 1.0e-03 \\\\"]
    reordered = printed.replace("0.912   1.0e-03", "1.0e-03   0.912")
    assert len(missing_rows(TABLE, printed_numbers(reordered))) == 1


def test_a_macro_is_printed_in_full_or_for_a_sentence_by_its_ends():
    numbers = "\\uvdefine{share}{14.7\\%}\n\\uvdefine{n}{12{,}345}\n\\uvdefine{verdict}{" + "word " * 30 + "end-of-sentence.}\n"
    text = ("a share of 14.7% over 12,345 tokens. " + "word " * 15 + "\n[a figure]\n" + "word " * 15 + "end-\nof-sentence.").replace(
        "-\n", ""
    )
    assert missing_macros(numbers, text) == {}
    assert missing_macros(numbers, text.replace("14.7%", "14.8%")) == {"share": "14.7%"}


def test_overfull_boxes_beyond_the_tolerance_are_reported():
    log = "Overfull \\hbox (0.5pt too wide) in paragraph at lines 3--4\nOverfull \\hbox (12.25pt too wide) in alignment at lines 40--52\n"
    assert overfull_boxes(log, tolerance_pt=1.0) == ["12.2pt too wide in alignment at lines 40--52"]


def test_the_sections_include_each_generated_table_as_what_it_is():
    """A `longtable` needs `\\uvlongtable` (it takes its caption from there) and a `tabular` needs a float around `\\input`."""
    import re
    from pathlib import Path

    paper = Path(__file__).resolve().parents[1] / "paper"
    sections = "".join(path.read_text() for path in sorted((paper / "sections").glob("*.tex")))
    long_files = re.findall(r"\\uvlongtable\{[^}]*\}\{(?:[^{}]|\{[^{}]*\})*\}\{([^}]*)\}", sections)
    short_files = re.findall(r"\\input\{(generated/[^}]*)\}", sections)
    assert long_files and short_files
    for name in long_files + short_files:
        assert ("\\begin{longtable}" in (paper / name).read_text()) == (name in long_files), name


def test_a_sentence_end_split_by_a_page_break_is_found_and_a_changed_one_is_not():
    numbers = "\\uvdefine{verdict}{" + "word " * 30 + "so duplicated rows explain it.}\n"
    broken = (
        "word " * 30 + "so duplicated rows\n\n6\n\fFigure 3: score against multiplicity\n\nexplain it."
    )  # page number, form feed, a float
    assert missing_macros(numbers, broken) == {}
    assert missing_macros(numbers, broken.replace("\f", "")) != {}  # the same gap inside a page: the sentence is not shown
    assert missing_macros(numbers, broken.replace("so duplicated", "so no duplicated")) != {}
    assert missing_macros(numbers, broken.replace("6\n", "x " * 2000)) != {}  # the second half far beyond the page break


def test_inf_and_nan_in_results_or_printed_in_generated_latex_are_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "main").mkdir(parents=True)
    (tmp_path / "results" / "main" / "scores.json").write_text('{"rsa": {"observed": -Infinity, "ci": [0.1, NaN]}, "n": 4}')
    (tmp_path / "results" / "main" / "fine.json").write_text('{"information": 1.0, "status": "nan-free"}')
    generated = tmp_path / "paper" / "generated"
    generated.mkdir(parents=True)
    (generated / "table.tex").write_text("RSA & -inf & 0.01 \\\\\nSVCCA & 0.5 & $\\infty$ & information & nan \\\\\n")
    problems = verify.non_finite_problems()
    assert problems[0].startswith("results/main/scores.json holds a non-finite value (rsa.observed = -inf)")
    assert problems[1].startswith("results/main/scores.json holds a non-finite value (rsa.ci[1] = nan)")
    assert [p.split(" prints")[0] for p in problems[2:]] == ["paper/generated/table.tex:1", "paper/generated/table.tex:2"]


def test_the_table_formatter_refuses_inf_and_nan():
    for value in (float("inf"), float("-inf"), float("nan")):
        for formatter in (fmt, fmt_p):
            with pytest.raises(NonFiniteValue, match="must be None with a status"):
                formatter(value)
