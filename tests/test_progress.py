"""The profile's progress bar: estimated seconds per window, moving while a window runs (exact positions)."""
import io

from latmodel.measure.progress import WindowProgress


def test_the_bar_moves_within_a_window_and_never_past_its_share():
    out = io.StringIO()
    bar = WindowProgress([10.0, 20.0], 5, file=out)
    bar.start_window("a@96px +2")
    assert bar.position_s == 0.0
    bar.tick(5.0)
    assert bar.position_s == 5.0
    bar.tick(50.0)  # the window runs past its estimate: the bar waits just short of the window's end
    assert bar.position_s == 9.9
    bar.end_window(3)
    assert bar.position_s == 10.0
    bar.start_window("b@128px +1")
    bar.tick(4.0)
    assert bar.position_s == 14.0
    bar.end_window(2)
    assert bar.position_s == 30.0
    bar.close()
    assert "5/5 configs, b@128px +1" in out.getvalue() and "30/30 s" in out.getvalue()


def test_a_window_past_its_estimate_says_so_and_shares_ending_in_a_half_close_cleanly():
    out = io.StringIO()
    bar = WindowProgress([0.25, 668.25], 3, file=out)  # 668.5 s: a rounded total (668) would be passed by 0.5
    bar.start_window("a")
    bar.end_window(1)
    bar.start_window("b +1")
    bar.tick(700.0)
    bar._bar.refresh()  # noqa: SLF001 - draw the postfix the tick set
    assert out.getvalue().rsplit("\r", 1)[-1].endswith("1/3 configs, b +1, 32 s past this window's estimate]")
    bar.end_window(2)
    assert bar.position_s == 668.5
    bar.close()  # before the fix: TypeError from tqdm drawing a total it had dropped
    assert "668/668 s" in out.getvalue() and "3/3 configs, b +1]" in out.getvalue().rsplit("\r", 1)[-1]


def test_a_disabled_bar_writes_nothing():
    out = io.StringIO()
    bar = WindowProgress([3.0], 1, enabled=False, file=out)
    bar.start_window("x")
    bar.tick(1.0)
    bar.end_window(1)
    bar.close()
    assert out.getvalue() == ""


def test_the_child_runner_reports_progress_while_the_child_runs_and_kills_it_at_the_timeout(tmp_path, monkeypatch):
    import latmodel.measure.profiling as profiling

    monkeypatch.setattr(profiling, "_CHILD_MODULE", "tests.slow_child")
    ticks = []
    result, why = profiling._run_child({"threads": 1, "sleep_s": 2.5}, tmp_path, 60.0, tick=ticks.append)
    assert (result, why) == ({"rows": []}, "")
    assert ticks and ticks == sorted(ticks)  # called while it slept, in order
    result, why = profiling._run_child({"threads": 1, "sleep_s": 30}, tmp_path, 0.5)
    assert result is None and why == "timed out after 0 s (raise timeout_s or lower --repeats)"
