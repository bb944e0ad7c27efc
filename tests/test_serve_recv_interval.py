"""The scheduler's queue interval (SGLang ``--scheduler-recv-interval`` x ``--num-continuous-decode-steps``):
a request arriving during a run of decodes waits for the scheduler's next look at its queue
(serving/closed_loop.run, serving/steady.spread_steady, serving/scheduling.Scheduler.interval)."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from superpod.serving.closed_loop import closed_loop, run
from superpod.serving.context import make_ctx
from superpod.serving.plan import ServePlan, Workload
from superpod.serving.scheduling import scheduler
from superpod.serving.steady import spread_steady
from superpod.spec.quantity import Quantity


def linear(t0=0.005, per_token=20e-6, per_seq=40e-6):
    return lambda P, D: t0 + per_token * P + per_seq * D if (P or D) else 0.0


def count(v: int) -> Quantity:
    return Quantity(value=v, unit="count", source="test value", confidence="U")


def test_interval_is_recv_times_continuous_steps():
    base = scheduler("sglang")
    assert base.interval() == 1
    assert base.model_copy(update={"recv_interval": count(30)}).interval() == 30
    assert base.model_copy(update={"decode_steps": count(4)}).interval() == 4
    assert base.model_copy(update={"recv_interval": count(10), "decode_steps": count(4)}).interval() == 40


@pytest.mark.parametrize("policy", ["mixed", "chunked", "prefill-first"])
def test_looking_every_iteration_is_the_default(policy):
    step = linear()
    assert run(step, 32, 1024, 256, 8192, policy, recv=1) == run(step, 32, 1024, 256, 8192, policy)
    assert spread_steady(step, 32, 1024, 256, 8192, policy, 1.0, 1) == spread_steady(step, 32, 1024, 256, 8192, policy)


def test_prefill_first_steady_state_analytic():
    """Constant iteration costs: a decode iteration t_d, a prefill iteration t_p whatever it carries.
    An arrival waits (N + 1) / 2 decode iterations for the look, then one prefill iteration; TPOT pays
    a prefill iteration for each look that finds someone (1 - exp(-a N) of them)."""
    t_d, t_p, n, osl, N = 0.02, 0.05, 16, 501, 10
    step = lambda P, D: t_p if P else (t_d if D else 0.0)  # noqa: E731
    s = spread_steady(step, n, 1024, osl, 8192, "prefill-first", 1.0, N)
    assert s["steady_ttft_s"] == pytest.approx(t_d * (N + 1) / 2 + t_p)
    wait = s["steady_ttft_s"] / s["steady_tpot_s"]
    a = n / (osl - 1 + wait)
    assert s["steady_tpot_s"] == pytest.approx(t_d + (1 - math.exp(-a * N)) * t_p / N, rel=1e-5)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 128), isl=st.sampled_from([128, 1024, 8192]), osl=st.sampled_from([2, 64, 1024]),
       policy=st.sampled_from(["mixed", "chunked", "prefill-first"]), N=st.integers(2, 40))
def test_a_longer_interval_never_brings_the_first_token_sooner(n, isl, osl, policy, N):
    step = linear()
    for f in (lambda k: run(step, n, isl, osl, 8192, policy, recv=k)["ttft_s"],
              lambda k: spread_steady(step, n, isl, osl, 8192, policy, 1.0, k)["steady_ttft_s"]):
        assert f(N) >= f(1) * (1 - 1e-9)


def test_fixed_lengths_arrivals_wait_for_the_look():
    """One client, fixed lengths: its next request arrives as the last token leaves, into an engine
    with nothing else to do (idle): it is served at once whatever the interval. Two clients a few
    iterations apart: the later one's successor waits for the look."""
    step = linear()
    one = [run(step, 1, 512, 64, 8192, "prefill-first", recv=k)["ttft_s"] for k in (1, 30)]
    assert one[0] == pytest.approx(one[1])


def test_closed_loop_takes_the_launched_scheduler():
    c = make_ctx("llama3-70b", "dgx-h100-superpod", None, "fp8", "bf16", "sglang")
    plan, wl = ServePlan.one(tp=8, batch=4), Workload(1024, 1024)
    base = closed_loop(c, plan, wl, framework="sglang", length_ratio=0.8)
    slow = closed_loop(c, plan, wl, framework="sglang", length_ratio=0.8,
                       sched=scheduler("sglang").model_copy(update={"recv_interval": count(30)}))
    assert base["recv_interval"] == 1 and slow["recv_interval"] == 30
    assert slow["ttft_s"] > base["ttft_s"] + 10 * (base["tpot_s"] * 0.5)
    assert slow["tpot_s"] == pytest.approx(base["tpot_s"], rel=0.05)


def both(**kw):
    from superpod import serve

    return serve("llama3-70b", "dgx-h100-superpod", chips=8, phase="both", concurrency=64, input_len=1024,
                 output_len=1024, framework="sglang", **kw).to_dict()["both"]


def test_serve_states_the_server_as_launched():
    """`superpod serve --concurrency` takes the server's scheduler flags and the benchmark's length draw."""
    base, ran = both(), both(random_range_ratio=0.8)
    slow = both(random_range_ratio=0.8, recv_interval=30, token_budget=4096, max_running=48)
    assert base["recv_interval"] == 1 and slow["recv_interval"] == 30
    assert slow["token_budget"] == 4096 and slow["max_running"] == 48
    assert ran["ttft_s"] < base["ttft_s"]  # random lengths dissolve the waves after the first
    assert slow["ttft_s"] > ran["ttft_s"]  # the looks every 30 iterations, the cap of 48 (16 queue)


@pytest.mark.parametrize("flag", ["--recv-interval 30", "--token-budget 4096", "--max-running 8",
                                  "--random-range-ratio 0.8"])
def test_scheduler_flags_need_a_fixed_concurrency_run(flag):
    from typer.testing import CliRunner

    from superpod.faces.cli import app

    r = CliRunner().invoke(app, ["serve", "llama3-70b", "dgx-h100-superpod", *flag.split()])
    assert r.exit_code == 2 and "--concurrency" in r.output and "Traceback" not in r.output


NONSENSE = [("--recv-interval", v) for v in ("0", "-3", "x", "2.5")] + \
    [("--token-budget", v) for v in ("0", "-1", "inf", "x")] + [("--max-running", v) for v in ("0", "nan", "x")] + \
    [("--random-range-ratio", v) for v in ("0", "1.5", "-0.2", "nan", "inf", "x")]


@pytest.mark.parametrize("flag,bad", NONSENSE)
def test_scheduler_flags_refuse_nonsense(flag, bad):
    """One line and exit 2 in the CLI; SuperpodError in the API, never a traceback."""
    from typer.testing import CliRunner

    from superpod import serve
    from superpod.errors import SuperpodError
    from superpod.faces.cli import app

    r = CliRunner().invoke(app, ["serve", "llama3-70b", "dgx-h100-superpod", "--phase", "both", "--concurrency", "8",
                                 flag, bad])
    assert r.exit_code == 2 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    with pytest.raises(SuperpodError):
        serve("llama3-70b", "dgx-h100-superpod", phase="both", concurrency=8,
              **{flag[2:].replace("-", "_"): float(bad) if bad not in ("x",) else bad})
