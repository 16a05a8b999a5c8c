"""server/spreadsheet.py: what a spreadsheet would run is written as text, numbers stay
numbers, and a file opens in Excel as UTF-8."""

import csv
import io

from server.spreadsheet import BOM, csv_line, csv_response, safe_cell


def test_a_cell_a_spreadsheet_would_run_is_text() -> None:
    for formula in ('=HYPERLINK("http://evil.example","click")', "+66812345678", "@SUM(A1)",
                    "-1+1", "\tx", "\r=1", "-"):  # fmt: skip
        assert safe_cell(formula) == "'" + formula


def test_numbers_and_plain_text_stay_as_they_are() -> None:
    assert [safe_cell(v) for v in (-12.5, "-12.50", "-3", 0, "380.00", "มะม่วง", None)] == [
        "-12.5", "-12.50", "-3", "0", "380.00", "มะม่วง", "",
    ]  # fmt: skip
    # only ASCII digits make a number: Thai digits after a minus are text a sheet may parse
    assert safe_cell("-๑๒") == "'-๑๒"


def test_a_line_is_rfc4180_and_quotes_what_needs_it() -> None:
    line = csv_line(["a,b", 'say "hi"', "=1", 2])
    assert line == '"a,b","say ""hi""",\'=1,2\r\n'
    assert next(csv.reader(io.StringIO(line))) == ["a,b", 'say "hi"', "'=1", "2"]


def test_a_download_starts_with_the_bom_and_names_its_file() -> None:
    response = csv_response([["name"], ["มะม่วง"]], "report.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="report.csv"'
    assert response.content.decode("utf-8") == BOM + "name\r\nมะม่วง\r\n"
