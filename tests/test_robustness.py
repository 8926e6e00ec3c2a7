"""Bad input everywhere: property-based tests over CLI arguments and table readers.

Every case must end in success or one clear line with exit code 2: never a
traceback, never a partial output file.
"""
from __future__ import annotations

import io
import contextlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from latmodel.errors import TableError
from latmodel.fileio import sanitize_cell
from latmodel.measure.table import TABLE_COLUMNS, append_rows, read_table

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _run(main, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help and friends
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _assert_clean(code, err):
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert "Traceback" not in err


@FAST
@given(data=st.binary(max_size=2000))
def test_read_table_arbitrary_bytes(tmp_path, data):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    try:
        read_table(path)
    except TableError as exc:
        assert "\n" not in str(exc)


@FAST
@given(text=st.text(max_size=500))
def test_read_table_arbitrary_text(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if False else path.write_bytes(
        text.encode("utf-8", errors="replace"))
    try:
        read_table(path)
    except TableError as exc:
        assert "\n" not in str(exc)


def test_read_table_wrong_encoding(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(",".join(TABLE_COLUMNS).encode() + b"\n\xe9\xe8\xff\n")
    with pytest.raises(TableError):
        read_table(path)


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_formula_injection_is_neutralised(tmp_path, cell):
    assert sanitize_cell(cell).startswith("'")
    row = {c: 1 for c in TABLE_COLUMNS}
    row.update(config_id="c", model="m", family="f", block_name=cell, flag_reason="", device_kind="cpu",
               device_name="x", device_id="d", torch_version="2", measured_at="now")
    path = tmp_path / "t.csv"
    append_rows(path, [row])
    text = path.read_text()
    assert f",'{cell[0]}" in text or f",\"'{cell[0]}" in text


_VALUES = st.one_of(st.text(max_size=30), st.integers(-10**12, 10**12).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(str), st.sampled_from(["", "-1", "0", "1e309", "nan"]))


@FAST
@given(model=_VALUES, resolution=_VALUES, width=_VALUES)
def test_latmodel_blocks_args(model, resolution, width):
    from latmodel.cli import main

    code, out, err = _run(main, ["blocks", "--model", model, "--resolution", resolution, "--width", width])
    _assert_clean(code, err)


@FAST
@given(models=_VALUES, resolutions=_VALUES, repeats=_VALUES)
def test_latmodel_profile_args_never_write_partial_output(tmp_path, models, resolutions, repeats):
    from latmodel.cli import main

    out = tmp_path / "missing-dir" / "t.csv"
    code, _, err = _run(main, ["profile", "--models", models, "--resolutions", resolutions,
                               "--repeats", repeats, "--out", str(out)])
    _assert_clean(code, err)
    assert code == 2 and not out.exists()


@FAST
@given(deadline=_VALUES, epochs=_VALUES, models=_VALUES, resolution=_VALUES)
def test_trimmer_search_args(tmp_path, deadline, epochs, models, resolution):
    from trimmer.cli import main

    out = tmp_path / "no-parent" / "run"
    code, _, err = _run(main, ["search", "--deadline-ms", deadline, "--epochs", epochs, "--models", models,
                               "--resolutions", resolution, "--out", str(out)])
    _assert_clean(code, err)
    assert code == 2 and not out.exists()


@pytest.mark.parametrize("argv,needle", [
    (["search", "--epochs", "0", "--out", "x"], "expected an integer >= 1, got '0'"),
    (["search", "--deadline-ms", "-5", "--out", "x"], "positive"),
    (["search", "--deadline-ms", "nan", "--out", "x"], "positive"),
    (["search", "--weights", "resnet18", "--out", "x"], "NAME=PATH"),
    (["search", "--mode", "bogus", "--out", "x"], "invalid choice"),
    (["search", "--top-k", "0", "--out", "x"], "got '0'"),
    (["search", "--propose", "nosuch", "--out", "x"], "invalid choice: 'nosuch'"),
    (["search", "--margin", "nosuch", "--out", "x"], "choose from 'upper', 'none', 'measured'"),
    (["nosuchcommand"], "invalid choice"),
])
def test_trimmer_cli_user_errors(argv, needle):
    from trimmer.cli import main

    code, _, err = _run(main, argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
