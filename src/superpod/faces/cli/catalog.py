"""Catalog and evidence commands: chips, systems, models, show, compare, claims, validate,
calibration. Thin Typer faces over the Python API; heavy imports stay inside the commands."""

from __future__ import annotations

import typer

from superpod.api.options import CalibrationOptions, CompareOptions, ValidateOptions
from superpod.errors import InvalidOptionError
from superpod.faces.cli.app import JSON, command
from superpod.faces.cli.options import options_command


@command()
def chips(as_json: bool = JSON) -> None:
    """List the chips in the catalog, one line each (dense peaks per package, per-direction bandwidth)."""
    from superpod import api
    from superpod.faces.report.output import console, emit_json, table
    from superpod.units import human

    res = api.chips()
    if as_json:
        return emit_json(res)
    rows = [r.record for r in res]

    def h(v, dim):
        return "-" if v is None else human(v, dim, 4)

    body = [
        [r["name"], r["vendor"], r["released"], h(r["bf16_flops"], "flops"), h(r["fp8_flops"], "flops"),
         h(r["fp4_flops"], "flops"), h(r["hbm_bytes"], "bytes"), h(r["hbm_Bps"], "Bps"),
         h(r["scaleup_Bps"], "Bps"), h(r["tdp_w"], "power")]
        for r in rows
    ]
    cols = ["chip", "vendor", "released", "BF16", "FP8", "FP4", "HBM", "HBM BW", "scale-up/dir", "TDP"]
    console().print(table("Chips (dense peaks; '-' = not supported or not published)", cols, body))


@command()
def systems(as_json: bool = JSON) -> None:
    """List the systems in the catalog, one line each (reference size; clusters grow with --chips)."""
    from superpod import api
    from superpod.faces.report.output import console, emit_json, table
    from superpod.units import human

    res = api.systems()
    if as_json:
        return emit_json(res)
    rows = [r.record for r in res]
    body = [
        [r["name"], r["kind"], r["chip"], f"{r['chips']:,}", f"{r['scaleup_domain_chips']:,.0f}" if r["scaleup_domain_chips"] else "-",
         human(r["bf16_flops"], "flops", 4), human(r["power_w"], "power", 4), r["title"]]
        for r in rows
    ]
    cols = ["system", "kind", "chip", "chips", "scale-up domain", "BF16", "power", "title"]
    console().print(table("Systems (reference size)", cols, body))


@command()
def models(as_json: bool = JSON) -> None:
    """List the LLM architectures in the catalog with total and active parameters.

    active_params counts the weights each token multiplies with (input embedding lookups
    excluded: they cost no FLOPs), so 2 x active_params is the forward GEMM FLOPs per token.
    """
    from superpod import api
    from superpod.faces.report.output import console, emit_json, table

    res = api.models()
    if as_json:
        return emit_json(res)
    rows = [r.record for r in res]
    body = [
        [r["name"], f"{r['params'] / 1e9:,.1f} B", f"{r['active_params'] / 1e9:,.1f} B", str(r["layers"]),
         f"{r['hidden']:,}", r["attention"], str(r["experts"] or "-"), r["source"]]
        for r in rows
    ]
    cols = ["model", "params", "active", "layers", "hidden", "attention", "experts", "source"]
    console().print(table("Models (params: total, MTP modules excluded; active: per token)", cols, body))


@command()
def show(
    name: str = typer.Argument(..., help="A chip, fabric, system or model name, or a path to a TOML file or HF config.json."),
    as_json: bool = JSON,
) -> None:
    """Everything about one chip, fabric, system or model, each number with its source and confidence."""
    from superpod import api
    from superpod.faces.report.output import console, emit_json, table

    info = api.show(name)
    if as_json:
        return emit_json(info)
    c = console()
    c.print(f"[bold]{info['name']}[/bold] ({info['kind']}) {info.get('title') or ''}")
    if info.get("description"):
        c.print(info["description"].strip(), markup=False)
    if info["kind"] == "model":
        c.print(f"params {info['params'] / 1e9:,.2f} B, active per token {info['active_params'] / 1e9:,.2f} B", markup=False)
    plain = {k: v for k, v in info.get("attributes", {}).items()}
    if plain:
        c.print(table(None, ["attribute", "value"], [[k, str(v)] for k, v in plain.items()]))
    q = info.get("quantities", {})
    if q:
        rows = [[k, f"{v['value']:g} {v['unit']}", v["display"], v["confidence"], v["source"] + (f"  (note: {v['note']})" if v.get("note") else "")]
                for k, v in q.items()]
        c.print(table("Sourced numbers", ["field", "as sourced", "SI / per direction", "conf", "source"], rows))
    for sub in info.get("tiers", []):
        c.print(f"\n[bold]tier {sub['name']}[/bold]: {sub['attributes'].get('topology')} ({sub['attributes'].get('technology')})")
        rows = [[k, f"{v['value']:g} {v['unit']}", v["display"], v["confidence"], v["source"]] for k, v in sub["quantities"].items()]
        c.print(table(None, ["field", "as sourced", "SI / per direction", "conf", "source"], rows))


@options_command(CompareOptions)
def compare(o: CompareOptions, as_json: bool = JSON) -> None:
    """System totals side by side, with ratios to the first system and the basis of each number.

    JSON keys (SI, per direction): chips, nodes, racks, bf16_flops, fp8_flops, int8_flops, fp4_flops,
    hbm_bytes, hbm_Bps (bytes/s), scaleup_bits_per_s and scaleout_bits_per_s (bits/s; old names scaleup_bps, scaleout_bps kept), power_w, *_per_w;
    ratio_to_first = this system / the first; basis = how each total was computed.
    """
    from superpod import api
    from superpod.faces.report.compare import rows
    from superpod.faces.report.output import console, emit_json, table

    res = api.compare(o.systems, o.chips)
    if as_json:
        return emit_json(res)
    recs = [r.record for r in res]
    first = recs[0]["name"]
    cols = ["metric"] + [r["name"] for r in recs] + [f"{r['name']} ÷ {first}" for r in recs[1:]]
    body = rows(recs)
    c = console()
    c.print(table("System totals (dense peaks; bandwidth per direction)", cols, body))
    c.print("Basis (count x per-chip value, source [confidence]):", markup=False)
    for r in recs:
        for key in ("bf16_flops", "hbm_bytes", "scaleup_bits_per_s", "power_w"):
            c.print(f"  {r['name']} {key}: {r['basis'].get(key, '-')}", markup=False, highlight=False)
    c.print("Published claims on other bases: `superpod claims`.")


@command()
def claims(
    as_json: bool = JSON,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any claim is disputed, or off by more than 2% without an explanation."),
) -> None:
    """Published system-level claims recomputed from the catalog: reproduced, explained or disputed.

    reproduced: within 2% (or equal at the claim's stated significant figures);
    explained: differs, but the claimant's basis (shown) reproduces it; disputed: neither.
    """
    from rich.text import Text

    from superpod import api
    from superpod.faces.report.output import console, emit_json, table

    res = api.claims()
    rows = [r.record for r in res]
    bad = res.strict_failures
    if as_json:
        emit_json(res)
    else:
        def num(x: float) -> str:
            return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:,.4g}"

        body = []
        for r in rows:
            claimed = ("> " if r["op"] == "gt" else "") + f"{num(r['claimed'])} {r['unit'] if r['unit'] != 'ratio' else 'x'}"
            computed = num(r["computed"])
            why = r["basis"]
            if r["alternate"]:
                why += f" | claimant's basis: {r['alternate']['basis']} = {num(r['alternate']['computed'])} {r['alternate']['unit']}"
            if r["explanation"] and r["verdict"] != "reproduced":
                why += f" | {r['explanation']}"
            colour = {"reproduced": "green", "explained": "yellow", "disputed": "red"}[r["verdict"]]
            body.append([r["claim"], claimed, computed, f"{r['ratio']:.3f}", Text(r["verdict"], style=colour), why])
        c = console()
        c.print(table("Published claims recomputed from the catalog", ["claim", "claimed", "computed", "ratio", "verdict", "basis"], body))
        c.print(", ".join(f"{n} {v}" for v, n in res.counts.items()))
    if strict and bad:
        typer.echo(f"strict: {len(bad)} claim(s) disputed or unexplained: {', '.join(bad)}", err=True)
        raise typer.Exit(1)


@options_command(ValidateOptions)
def validate(o: ValidateOptions, as_json: bool = JSON) -> None:
    """Predictions vs published measurements: error per case and MAPE per group.

    Cases marked `calibration` (the at most one case per framework an end-to-end factor was
    fitted on) are shown but left out of the MAPE. Exit 1 when a group misses its stated target.
    """
    from rich.text import Text

    from superpod import api
    from superpod.faces.report.output import console, emit_json, table

    if o.group == "silicon" or o.groups == ["silicon"]:
        return _silicon(api.validate_silicon(o.file), as_json)
    if o.file is not None:
        raise InvalidOptionError(f"FILE ({o.file}) applies to the silicon group only: superpod validate silicon FILE.csv")
    res = api.validate([o.group] if o.group else o.groups)
    out = res.record
    if as_json:
        emit_json(res)
    else:
        c = console()
        for g in out["groups"]:
            body = []
            for r in g["cases"]:
                err = f"{r['error'] * 100:+.1f}%"
                body.append([r["id"], r["metric"], f"{r['measured']:,.4g}", f"{r['predicted']:,.4g}",
                             Text(err, style="green" if abs(r["error"]) <= (g["target_mape"] or 1) else "yellow"),
                             r["role"], r["source"] if len(r["source"]) <= 60 else r["source"][:57] + "..."])
            c.print(table(f"Validation: {g['group']}", ["case", "metric", "measured", "predicted", "error", "role", "source"], body))
            verdict = "within target" if g["within_target"] else "OUTSIDE target"
            worst_target = f" (target <= {g['target_max'] * 100:.0f}%)" if g["target_max"] else ""
            c.print(f"{g['group']}: MAPE {g['mape'] * 100:.1f}% (target <= {g['target_mape'] * 100:.0f}%), "
                    f"worst case {g['max_abs_error'] * 100:.1f}%{worst_target}: {verdict}", markup=False)
            for s in g.get("groups", []):
                c.print(f"  {g['group']} / {s['group']}: {s['validation_cases']} cases, MAPE {s['mape'] * 100:.1f}%, "
                        f"worst {s['worst_case']} {s['max_abs_error'] * 100:.1f}%: "
                        f"{'within target' if s['within_target'] else 'OUTSIDE target'}", markup=False)
    if not res.within_target:
        raise typer.Exit(1)


def _silicon(res, as_json: bool) -> None:
    """Print the silicon group: partitions with their MAPE, the worst rows, the gate verdict."""
    from superpod.faces.report.output import console, emit_json, table

    out = res.record
    if as_json:
        emit_json(res)
    else:
        pct = lambda v: "-" if v is None else f"{v * 100:.1f}%"  # noqa: E731
        body = [[p["framework"], p["gpu"], p["model"], p["mode"], p["precision"], f"{p['answered']}/{p['rows']}",
                 pct(p["ttft_mape"]), pct(p["tpot_mape"])] for p in out["partitions"]]
        c = console()
        c.print(table(f"Validation: silicon ({out['file']})",
                      ["framework", "gpu", "model", "mode", "precision", "answered", "TTFT MAPE", "TPOT MAPE"], body))
        rows = {r["id"]: r for r in out["rows"]}
        worst = [[i, f"{rows[i]['measured_ttft_ms']:,.1f}", f"{rows[i]['predicted_ttft_ms']:,.1f}",
                  f"{rows[i]['measured_tpot_ms']:,.2f}", f"{rows[i]['predicted_tpot_ms']:,.2f}"] for i in out["worst"]]
        c.print(table("Worst rows (ms)", ["id", "TTFT measured", "TTFT predicted", "TPOT measured", "TPOT predicted"], worst))
        why: dict[str, int] = {}
        for r in out["rows"]:
            if r["status"] != "ok":
                why[f"{r['status']}: {r['reason']}"] = why.get(f"{r['status']}: {r['reason']}", 0) + 1
        for reason, n in sorted(why.items(), key=lambda kv: -kv[1])[:12]:
            c.print(f"{n:5,} rows {reason}", markup=False)
        verdict = "within gate" if res.within_gate else "OUTSIDE gate"
        c.print(f"silicon: {res.explain()}: {verdict}", markup=False)
    if not res.within_gate:
        raise typer.Exit(1)


@options_command(CalibrationOptions)
def calibration(o: CalibrationOptions, as_json: bool = JSON) -> None:
    """The microbenchmarks behind every efficiency factor, re-predicted by the cost core, and the
    measured kernel tables priced by the fitted kernel models.

    Anchors: kernel (DeepGEMM, FlashMLA, CloudMatrix MLA/INT8, Megatron layer timings) and
    communication (DeepEP, CloudMatrix dispatch/combine, NVLS) measurements, each with its source;
    error = predicted / measured - 1. Kernel tables (AIConfigurator's perf database: gemm, mla_bmm,
    attention, MLA, moe, nccl, custom all-reduce, DeepEP): rows, MAPE, p90 and the worst shapes of
    the shipped samples with the shipped parameters, and the leave-one-GPU-out MAPE the fits recorded.
    """
    from superpod import api
    from superpod.faces.report.output import console, emit_json, table

    res = api.calibration(**o.kwargs())
    if as_json:
        return emit_json(res)
    rows = [r.record for r in res]
    body = [[r["id"], r["unit"], f"{r['measured']:,.4g}", f"{r['predicted']:,.4g}", f"{r['error'] * 100:+.1f}%", r["source"]]
            for r in rows]
    c = console()
    c.print(table("Calibration anchors (microbenchmarks the efficiency factors were fitted to)",
                  ["anchor", "unit", "measured", "predicted", "error", "source"], body))
    errors = [abs(r["error"]) for r in rows]
    c.print(f"{len(rows)} anchors: mean |error| {sum(errors) / len(errors) * 100:.1f}%, worst {max(errors) * 100:.1f}%", markup=False)
    extra = res.extra

    def shape(w):
        return (f"{w['system']} " + " ".join(f"{k}={v}" for k, v in w["shape"].items())
                + f" ({w['error'] * 100:+.0f}%)") if w else "-"

    def pct(v):
        return "-" if v is None else f"{v:.1f}%"

    body = []
    for t in extra["tables"]:
        loo = [h["mape_pct"] for h in t["holdout"]]
        body.append([t["table"], f"{t['rows']:,}", pct(t["mape_pct"]), pct(t["p90_pct"]),
                     f"{min(loo):.1f}-{max(loo):.1f}%" if loo else "-", shape(t["worst"][0] if t["worst"] else None)])
    c.print(table("Measured kernel tables (shipped samples, shipped parameters)",
                  ["table", "rows", "MAPE", "p90", "leave-one-GPU-out MAPE", "worst shape"], body))
    c.print(f"Basis: {extra['tables_basis']}.", markup=False)
    if "holdout" in extra:
        h = extra["holdout"]
        refit = h["refit"]
        body = [[t["table"], pct((t["left_out"] or {}).get("mape_pct")), pct((t["left_out"] or {}).get("p90_pct"))]
                + ([pct(t["refit_on_samples"]["mape_pct"]), pct(t["refit_on_samples"]["p90_pct"])] if refit else [])
                + [pct(t["in_sample"]["mape_pct"]), t["command"]] for t in h["tables"]]
        cols = (["table", "MAPE left out (full tables)", "p90"] + (["MAPE refit on samples", "p90"] if refit else [])
                + ["MAPE in sample (its sample rows)", "re-derive"])
        c.print(table(f"Leave {h['gpu']} out (parameters fitted without it; error on its rows)", cols, body))
        c.print(f"{h['gpu']}: {h['note']}." + (f" Refitted on the samples in {h['refit_seconds']:.0f} s." if refit else ""),
                markup=False)
