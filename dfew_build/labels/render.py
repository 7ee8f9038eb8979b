"""Text renderings of the views (plain tables and Markdown), shared by the CLI and the report."""

from __future__ import annotations

from dfew_build.labels.subset import BIN_NAMES

KAPPA_COLUMNS = ["emotion", "p", "kappa", "ci", "band"]
TABLE2_COLUMNS = ["emotion", *BIN_NAMES, "total", "percent"]
ANNOTATOR_COLUMNS = ["annotator", "votes", "loo_agreement", "ds_accuracy", "top_confusion"]


def _num(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ci(entry: dict) -> str:
    if entry.get("ci_low") is None:
        return "—"
    return f"[{entry['ci_low']:.4f}, {entry['ci_high']:.4f}]"


def kappa_headline(view: dict) -> list[str]:
    subset = ("all clips" if view["subset"] == "all" else
              f"single-labelled clips (more than {view['threshold']} votes for one emotion)")
    overall = view["overall"]
    lines = [f"Fleiss' kappa, {subset}: N = {view['N']} clips x n = {view['n']} votes"]
    left = []
    if view["left_out_fewer_votes"]:
        left.append(f"{view['left_out_fewer_votes']} clip(s) with fewer than "
                    f"{view['raters_per_clip']} votes left out")
    if view.get("not_single_labelled"):
        left.append(f"{view['not_single_labelled']} complete clip(s) not single-labelled")
    if left:
        lines.append("(" + "; ".join(left) + ")")
    if overall["kappa"] is None:
        lines.append(f"kappa undefined: {overall['undefined_reason']}")
        return lines
    boot = view["bootstrap"]
    interval = ""
    if overall["ci_low"] is not None:
        interval = (f"  {boot['confidence']:.0%} CI {_ci(overall)} (bootstrap, "
                    f"{boot['replicates']} resamples of clips, seed {boot['seed']})")
    lines.append(f"kappa = {overall['kappa']:.4f}{interval}  {overall['band']} agreement "
                 "(Landis & Koch)")
    return lines


def kappa_rows(view: dict) -> list[dict]:
    return [{"emotion": row["emotion"], "p": _num(row["p"]), "kappa": _num(row["kappa"]),
             "ci": _ci(row), "band": row["band"] or (row["undefined_reason"] or "")}
            for row in view["per_category"]]


def table2_rows(view: dict) -> list[dict]:
    return [{"emotion": r["emotion"], **{b: r[b] for b in BIN_NAMES}, "total": r["total"],
             "percent": f"{r['percent']:.2f}"} for r in view["table2"]]


def annotator_rows(view: dict) -> list[dict]:
    rows = []
    for a in view["annotators"]:
        confusion = a.get("top_confusion")
        rows.append({"annotator": a["annotator"], "votes": a["votes"],
                     "loo_agreement": _num(a["loo_agreement"], 3),
                     "ds_accuracy": _num(a["ds_accuracy"], 3),
                     "top_confusion": (f"{confusion['true']} -> {confusion['said']} "
                                       f"({confusion['probability']:.2f})" if confusion else "")})
    return rows


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def cell(value) -> str:
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
