"""Short runs of the load and teleoperation patterns of bench/reliability.py.

The full-size figures (20 000 calls, minutes of streaming) come from the bench script;
these runs check the behaviour: no call is lost, no invalid request is answered with
success, streamed answers stay continuous, and the node's memory does not grow.
"""
import pytest
from reliability import run_load, run_soak


@pytest.mark.slow
def test_load_with_model_replacements_loses_no_call():
    r = run_load(clients=8, calls=1600, replacements=2, namespace='/load_test')
    summary = {k: v for k, v in r.items() if k != 'rss_mb'}
    assert r['lost'] == 0 and r['answered'] == 1600, summary
    assert r['invalid_answered_success'] == 0, summary
    assert r['node_exit_code'] == 0, summary
    rss = [v for _, v in r['rss_mb']]
    assert max(rss) - rss[0] < 40.0, r['rss_mb']      # two new models, not a leak per call


@pytest.mark.slow
def test_teleoperation_stream_is_answered_and_continuous():
    r = run_soak(seconds=12.0, window=4.0, namespace='/soak_test')
    assert r['lost'] == 0 and r['failures'] == 0 and r['calls'] >= 600, r
    assert r['node_exit_code'] == 0, r
    windows = r['windows']
    assert all(w['max_step_rad'] < 0.05 for w in windows), windows   # no branch flips
    assert windows[-1]['rss_mb'] - windows[0]['rss_mb'] < 10.0, windows
