"""Leave one GPU out on the shipped samples: rebuild a perf-database tree from the samples, run the fit
scripts with ``--holdout GPU`` on it, and time them (needs the ``fit`` extra: pandas, pyarrow, scipy).

    python benchmarks/silicon/refit_samples.py b300_sxm                 # every fit script
    python benchmarks/silicon/refit_samples.py b300_sxm --only comm     # gemm | mla_bmm | attention | moe | comm

The samples (src/superpod/catalog/calibration/silicon/samples) are written as
``<tmp>/<system>/<op>/<framework>/<version>/<table>.parquet`` (the path each row came from, column
``table`` or ``source``) with a ``system.yaml`` per GPU built from calibration/silicon/gemm.toml, the
layout the fit scripts read. With ``--out DIR`` it fits every parameter file without that GPU's rows
instead (about 60 s on the samples): ``superpod calibration --holdout GPU --refit`` runs that and prices
the GPU's sample rows with the refitted parameters. Figures on a few hundred rows per kernel are not the
recorded full-table ones (catalog/calibration/silicon/holdout.toml).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
SILICON = os.path.normpath(os.path.join(HERE, "..", "..", "src", "superpod", "catalog", "calibration", "silicon"))
FITS = {"gemm": ("fit_gemm.py", ["gemm_perf"], ["--n-fit", "2000"]),
        "mla_bmm": ("fit_mla_bmm.py", ["mla_bmm_perf"], ["--n-fit", "2000"]),
        "attention": ("fit_attention.py", ["context_attention_perf", "generation_attention_perf", "context_mla_perf",
                                           "generation_mla_perf"], ["--n-fit", "2000"]),
        "moe": ("fit_moe_perf.py", ["moe_perf"], ["--max-fit-rows", "500"]),
        "comm": ("fit_comm_perf.py", ["nccl_perf", "custom_allreduce_perf", "wideep_deepep_ll_perf",
                                      "wideep_deepep_normal_perf"], [])}


def build_tree(root: str, tables: list[str], without: str | None = None) -> None:
    import pandas as pd

    with open(os.path.join(SILICON, "gemm.toml"), "rb") as f:
        hw = tomllib.load(f)["hardware"]
    for gpu, h in hw.items():
        os.makedirs(os.path.join(root, gpu), exist_ok=True)
        with open(os.path.join(root, gpu, "system.yaml"), "w") as f:
            f.write(f"bfloat16_tc_flops: {h['bf16_flops']}\nfp8_tc_flops: {h['fp8_flops']}\n"
                    f"fp4_tc_flops: {h['fp4_flops']}\nmem_bw: {h['hbm_Bps']}\nsm_version: {h['arch'][2:]}\n")
    for table in tables:
        d = pd.read_csv(os.path.join(SILICON, "samples", f"{table}_sample.csv.gz"), comment="#")
        col = "table" if "table" in d.columns else "source"
        if without is not None:
            d = d[d["system"] != without]
        for where, g in d.groupby(col):
            out = os.path.join(root, where)
            os.makedirs(out, exist_ok=True)
            g.drop(columns=[c for c in ("system", "table", "source") if c in g.columns]).to_parquet(
                os.path.join(out, f"{table}.parquet"))


#: fit script -> the catalog parameter file it writes
WRITES = {"gemm": "gemm", "mla_bmm": "mla_bmm", "attention": "attention", "moe": "moe_perf", "comm": "comm_perf"}


def refit(gpu: str, out: str, only=None, log=print) -> dict[str, float]:
    """Fit every parameter file on the samples without ``gpu``'s rows; writes ``out/<file>.toml``. Seconds per fit."""
    seconds = {}
    with tempfile.TemporaryDirectory() as root:
        build_tree(root, [t for n in (only or FITS) for t in FITS[n][1]], without=gpu)
        for name in only or FITS:
            script, _, extra = FITS[name]
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, os.path.join(HERE, script), root, "--out",
                                os.path.join(out, f"{WRITES[name]}.toml"), *extra], capture_output=True, text=True)
            seconds[name] = time.perf_counter() - t0
            if r.returncode:
                raise SystemExit(f"{script} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
            log(f"{script} without {gpu}: {seconds[name]:.0f} s")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gpu")
    ap.add_argument("--only", choices=tuple(FITS), action="append")
    ap.add_argument("--out", help="write the refitted parameter files (<file>.toml) here instead of reporting "
                                  "the fit scripts' own --holdout output")
    a = ap.parse_args(argv)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        refit(a.gpu, a.out, a.only)
        return 0
    with tempfile.TemporaryDirectory() as root:
        for name in a.only or FITS:
            script, tables, extra = FITS[name]
            build_tree(root, tables)
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, os.path.join(HERE, script), root, "--holdout", a.gpu, *extra],
                               capture_output=True, text=True)
            print(f"## {script} --holdout {a.gpu} on the samples: {time.perf_counter() - t0:.0f} s, exit {r.returncode}")
            print(r.stdout[-4000:] if r.returncode == 0 else r.stderr[-2000:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
