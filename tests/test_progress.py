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
    import latmodel.measure.child as child
    import latmodel.measure.profiling as profiling

    monkeypatch.setattr(child, "_CHILD_MODULE", "tests.slow_child")
    ticks = []
    result, why = profiling._run_child({"threads": 1, "sleep_s": 2.5}, tmp_path, 60.0, tick=ticks.append)
    assert (result, why) == ({"rows": []}, "")
    assert ticks and ticks == sorted(ticks)  # called while it slept, in order
    prices = []  # a window's child reports one round of 40 s: 6 rounds at least make 240 s, past the 100 s window
    result, why = profiling._run_child({"threads": 1, "sleep_s": 2.5, "window_s": 100.0, "min_rounds": 6,
                                        "round_s": 40.0}, tmp_path, 60.0, reprice=prices.append)
    assert result == {"rows": []} and prices and all(240.0 <= p < 245.0 for p in prices)
    result, why = profiling._run_child({"threads": 1, "sleep_s": 30}, tmp_path, 0.5)
    assert result is None and why == "timed out after 0 s (raise timeout_s or lower --repeats)"


def test_a_window_is_repriced_from_its_measured_rounds():
    from latmodel.measure.windows import window_seconds_from_rounds

    # rounds run until the window lasted window_s and min_rounds ran, each as long as those so far
    assert window_seconds_from_rounds(0, 0.0, window_s=300.0, min_rounds=6, before_s=4.0) == 304.0
    assert window_seconds_from_rounds(2, 140.0, window_s=300.0, min_rounds=6, before_s=4.0) == 424.0  # 6 x 70 s
    assert window_seconds_from_rounds(3, 30.0, window_s=300.0, min_rounds=6) == 300.0  # 30 rounds of 10 s
    assert window_seconds_from_rounds(1, 40.0, window_s=300.0, min_rounds=6) == 320.0  # the round past 300 s ends it
    out = io.StringIO()
    bar = WindowProgress([300.0, 100.0], 30, file=out)
    bar.start_window("heavy +23")
    bar.tick(200.0)
    bar.reprice(420.0)  # longer: the window's share grows, the next window keeps its own
    bar.tick(330.0)
    bar._bar.refresh()  # noqa: SLF001 - draw now (tqdm redraws at most every 0.1 s)
    assert bar.position_s == 330.0 and "| 330/520 s [" in out.getvalue().rsplit("\r", 1)[-1]
    bar.reprice(350.0)  # shorter than the share it has: unchanged
    bar.end_window(24)
    assert bar.position_s == 420.0
    bar.start_window("b +5")
    bar.end_window(6)
    bar.close()
    assert "520/520 s" in out.getvalue()


def test_a_bar_waiting_at_its_cap_still_redraws_its_postfix():
    out = io.StringIO()
    bar = WindowProgress([10.0], 1, file=out)
    bar.start_window("a")
    bar.tick(9.95)
    # as after a while of ticks: the last draw long ago, and tqdm's adaptive minimum step grown to a second (then
    # update(0) draws nothing: a profile's bar sat at "338/341 s [05:38" for four minutes of a window running late)
    bar._bar.last_print_t, bar._bar.miniters, bar._bar.last_print_n = 0.0, 1.0, bar._bar.n  # noqa: SLF001
    bar.tick(12.0)  # the position stays at 9.9; the postfix changes and is drawn
    assert out.getvalue().rsplit("\r", 1)[-1].endswith("0/1 configs, a, 2 s past this window's estimate]")
    bar.close()


def test_a_window_measured_again_lengthens_the_bar_by_its_share():
    out = io.StringIO()
    bar = WindowProgress([100.0, 50.0], 2, file=out)
    for label in ("a", "b"):
        bar.start_window(label)
        bar.end_window(1)
    assert bar.position_s == 150.0
    bar.add_window(100.0)  # window a again, after the others
    bar.start_window("again: a")
    bar.tick(40.0)
    bar._bar.refresh()  # noqa: SLF001 - draw now
    assert bar.position_s == 190.0 and "| 190/250 s [" in out.getvalue().rsplit("\r", 1)[-1]
    assert "2/2 configs, again: a" in out.getvalue().rsplit("\r", 1)[-1]
    bar.end_window(0)
    bar.close()
    assert "250/250 s" in out.getvalue()
