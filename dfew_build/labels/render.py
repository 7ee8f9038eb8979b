"""Text renderings of the views (plain tables and Markdown), shared by the CLI and the report."""

from __future__ import annotations

from dfew_build.labels.subset import BIN_NAMES

KAPPA_COLUMNS = ["emotion", "p", "kappa", "ci", "band"]
TABLE2_COLUMNS = ["emotion", *BIN_NAMES, "total", "percent"]
ANNOTATOR_COLUMNS = ["annotator", "votes", "loo_agreement", "ds_accuracy", "top_confusion",
                     "flags", "gold_voted", "gold_correct", "gold_accuracy"]

# What the top_confusion and flags columns mean (the CLI and the report print it under the table).
ANNOTATOR_LEGEND = (
    "top_confusion: the highest rate P(answered | true) of answering another emotion that "
    "at least one vote backs, among the true emotions the annotator saw at least 5 times "
    "(only when those hold none, among the others: see the clip count); flags: 'spammer' "
    "when the answers hardly depend on the clip, 'says X for Y' when X is answered more "
    "often than the true Y.")


def _num(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ci(entry: dict) -> str:
    if entry.get("ci_low") is None:
        return "—"
    return f"[{entry['ci_low']:.4f}, {entry['ci_high']:.4f}]"


def coverage_lines(view: dict, extra_left_out: list[str] | None = None,
                   counts: bool = True) -> list[str]:
    """What a view counts: the counted votes per clip (when they differ) and what was left
    out and why."""
    from dfew_build.labels.views import histogram_text

    lines = []
    if counts and view.get("n") is None and view.get("vote_counts"):
        lines.append(f"counted votes per clip: {histogram_text(view['vote_counts'])}")
    left = list(view.get("left_out_phrases", [])) + list(extra_left_out or [])
    if left:
        lines.append("left out: " + "; ".join(left))
    return lines


def _spread(view: dict) -> str:
    counts = sorted(int(k) for k in view.get("vote_counts", {}))
    if view.get("n") is not None or not counts:
        return f"N = {view['N']} clips x n = {view['n']} votes"
    return f"N = {view['N']} clips with {counts[0]} to {counts[-1]} votes"


def kappa_headline(view: dict) -> list[str]:
    subset = ("all clips" if view["subset"] == "all" else
              f"single-labelled clips (more than {view['threshold']} of "
              f"{view['raters_per_clip']} votes for one emotion)")
    overall = view["overall"]
    generalised = "" if view.get("n") is not None or not view["N"] else \
        " (generalised to a varying number of votes per clip)"
    lines = [f"Fleiss' kappa, {subset}: {_spread(view)}{generalised}"]
    extra = []
    if view.get("not_single_labelled"):
        extra.append(f"{view['not_single_labelled']} clip(s) not single-labelled")
    lines += coverage_lines(view, extra)
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
    alpha = view.get("alpha") or {}
    if alpha.get("alpha") is not None:
        ci = f"  {boot['confidence']:.0%} CI {_ci(alpha)}" if alpha["ci_low"] is not None else ""
        lines.append(f"Krippendorff's alpha (nominal) = {alpha['alpha']:.4f}{ci}")
    elif alpha.get("undefined_reason"):
        lines.append(f"Krippendorff's alpha undefined: {alpha['undefined_reason']}")
    complete = view.get("complete_only")
    if complete:
        value = (f"undefined ({complete['undefined_reason']})" if complete["kappa"] is None
                 else f"{complete['kappa']:.4f}")
        lines.append(f"for comparison, DFEW's fixed-n Fleiss' kappa (statsmodels) on the "
                     f"{complete['N']} clip(s) with exactly {complete['n']} votes: {value}")
    return lines


def kappa_rows(view: dict) -> list[dict]:
    return [{"emotion": row["emotion"], "p": _num(row["p"]), "kappa": _num(row["kappa"]),
             "ci": _ci(row), "band": row["band"] or (row["undefined_reason"] or "")}
            for row in view["per_category"]]


def labels_headline(view: dict) -> list[str]:
    """The `labels` summary lines: subset size and rule, counts per clip, what was left out."""
    from dfew_build.labels.views import histogram_text

    counts = view["vote_counts"]
    same = f" with {next(iter(counts))} votes" if len(counts) == 1 else ""
    lines = [f"single-labelled: {view['single_labelled']} of {view['clips_used']} clips{same} "
             f"({view['percent_single']:.2f} %), {view['rule']}"]
    if len(counts) > 1:
        needed = ", ".join(f"{need} of {count}" for count, need in view["votes_needed"].items())
        lines.append(f"counted votes per clip: {histogram_text(counts)}; a single label needs "
                     f"at least {needed} votes for one emotion")
    lines += coverage_lines(view, counts=False)
    return lines


def excluded_lines(view: dict) -> list[str]:
    """One line per excluded annotator (annotator views), and the retired clips' votes."""
    not_counted = view.get("not_counted") or {}
    lines = []
    for entry in not_counted.get("excluded_annotators", []):
        reason = f" ({entry['reason']})" if entry.get("reason") else ""
        lines.append(f"{entry['annotator']} is excluded{reason}: {entry['votes']} vote(s) "
                     "stored, not counted")
    if not_counted.get("retired_clips"):
        lines.append(f"not counted: {not_counted['retired_votes']} vote(s) on "
                     f"{not_counted['retired_clips']} retired clip(s)")
    if not_counted.get("gold_clips"):
        lines.append(f"not counted: {not_counted['gold_votes']} vote(s) on "
                     f"{not_counted['gold_clips']} gold check clip(s) (gold accuracy only)")
    return lines


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
                     "top_confusion": confusion_text(confusion),
                     "flags": "; ".join(a.get("flags", [])),
                     **gold_cells(a)})
    return rows


def confusion_text(confusion: dict | None) -> str:
    """'happy -> neutral (0.25 of 4 clips)'; a rate under 0.005 reads '<0.01', never 0.00;
    '' without a confusion."""
    if not confusion:
        return ""
    rate = confusion["probability"]
    shown = f"{rate:.2f}" if rate >= 0.005 else "<0.01"
    clips = f"{confusion['support']:.0f}"
    return f"{confusion['true']} -> {confusion['said']} ({shown} of {clips} clips)"


def gold_cells(entry: dict) -> dict:
    """The gold columns of an annotator row: gold clips voted, correct, accuracy (3 places,
    '—' without gold votes)."""
    return {"gold_voted": entry.get("gold_votes", 0), "gold_correct": entry.get("gold_correct", 0),
            "gold_accuracy": _num(entry.get("gold_accuracy"), 3)}


def gold_only_lines(view: dict) -> list[str]:
    """One line per annotator whose only votes are on gold check clips."""
    return [f"{e['annotator']}: gold {e['gold_correct']}/{e['gold_votes']} correct "
            f"({_num(e['gold_accuracy'], 3)}), no counted votes"
            for e in view.get("gold_only_annotators", [])]


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    """Rows as a padded GFM table (dfew_build.markdown), numbers right-aligned."""
    from dfew_build.markdown import markdown_table as table

    return table(columns, [[r.get(c) for c in columns] for r in rows])
