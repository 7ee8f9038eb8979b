"""The agreement report: report.md and report.html with tables and PNG figures."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session

from dfew_build.emotions import NAMES
from dfew_build.errors import LabelsError
from dfew_build.labels import plots, render
from dfew_build.labels.agreement import DEFAULT_SEED
from dfew_build.labels.consensus import DEFAULT_THRESHOLD
from dfew_build.labels.files import atomic_write_text
from dfew_build.labels.matrix import vote_matrix
from dfew_build.labels.quality import PLACEHOLDER_PREFIX, annotator_view
from dfew_build.labels.views import (counted_table, histogram_text, kappa_view,
                                     single_label_view)

FIGURES = {"emotion_distribution": "emotion_distribution.png",
           "vote_entropy": "vote_entropy.png",
           "annotator_agreement": "annotator_agreement.png",
           "annotator_confusion": "annotator_confusion.png"}


def _sections(kappas: list[dict], labels: dict, people: dict, figures: dict) -> list[tuple]:
    """(kind, payload) blocks, rendered to Markdown and HTML alike."""
    counts = histogram_text(labels["vote_counts"])
    left = "; ".join(labels["left_out_phrases"]) or "nothing"
    blocks: list[tuple] = [("h1", "Annotation agreement and labels"),
                           ("p", f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. "
                                 f"Counted votes: {labels['counted_rule']}. "
                                 f"{labels['clips_used']} clip(s) with at least "
                                 f"{labels['min_votes']} counted votes are used "
                                 f"(counted votes per clip: {counts}); left out: {left}. "
                                 f"Raters per clip n = {labels['raters_per_clip']} "
                                 f"({labels['clips_with_raters_votes']} clip(s) have exactly "
                                 f"n votes).")]
    blocks.append(("h2", "Agreement (Fleiss' kappa)"))
    for view in kappas:
        blocks += [("p", line) for line in render.kappa_headline(view)]
        if view["overall"]["kappa"] is not None:
            blocks.append(("table", render.kappa_rows(view), render.KAPPA_COLUMNS))
    blocks.append(("p", "Intervals: percentile bootstrap over clips (not the interval under "
                        "kappa = 0). Bands: Landis & Koch (1977). With a varying number of "
                        "votes per clip, Fleiss' kappa is generalised (each clip's agreement "
                        "over its own pairs of votes, chance agreement from the pooled "
                        "shares) and Krippendorff's alpha (nominal) is given beside it; with "
                        "the same number everywhere kappa is statsmodels' fleiss_kappa."))
    blocks.append(("h2", "Single-labelled subset (DFEW Table 2)"))
    needed = ", ".join(f"{need} of {count}" for count, need in labels["votes_needed"].items())
    blocks.append(("p", f"{labels['single_labelled']} of {labels['clips_used']} clips "
                        f"({labels['percent_single']:.2f} %) have {labels['rule']}: "
                        f"l_k / n_i > {labels['threshold']} / {labels['raters_per_clip']}, "
                        f"i.e. at least {needed} votes. Single-labelled clips per counted "
                        f"votes: {histogram_text(labels['single_labelled_by_vote_count'])}."))
    blocks.append(("table", render.table2_rows(labels), render.TABLE2_COLUMNS))
    blocks.append(("img", figures["emotion_distribution"], "Emotion distribution"))
    blocks.append(("img", figures["vote_entropy"], "Vote entropy per clip"))
    blocks.append(("h2", "Annotator quality"))
    if people["annotators"]:
        blocks.append(("p", "loo_agreement: share of an annotator's votes that equal the "
                            "majority of the other votes on the clip (ties split). "
                            "ds_accuracy: Dawid-Skene probability of answering the true "
                            "emotion. Confusion rows: true emotion; columns: answered."))
        blocks.append(("table", render.annotator_rows(people), render.ANNOTATOR_COLUMNS))
        blocks.append(("p", render.ANNOTATOR_LEGEND))
        blocks.append(("img", figures["annotator_agreement"], "Annotator agreement"))
        blocks.append(("img", figures["annotator_confusion"], "Confusion matrices"))
    else:
        blocks.append(("p", people["note"]))
    for entry in people["not_counted"]["excluded_annotators"]:
        reason = f" ({entry['reason']})" if entry.get("reason") else ""
        blocks.append(("li", f"{entry['annotator']} is excluded{reason}: "
                             f"{entry['votes']} vote(s) stored, not counted anywhere"))
    if people["excluded_placeholders"]:
        blocks.append(("p", f"{people['excluded_placeholders']} placeholder rater(s) "
                            f"('{PLACEHOLDER_PREFIX}*', from a DFEW release import) are not "
                            "people and are not listed; their votes count as evidence."))
    return blocks


def _markdown(blocks) -> str:
    out = []
    for kind, *payload in blocks:
        if kind == "h1":
            out.append(f"# {payload[0]}")
        elif kind == "h2":
            out.append(f"## {payload[0]}")
        elif kind == "p":
            out.append(payload[0])
        elif kind == "li":
            out.append(f"- {payload[0]}")
        elif kind == "table":
            out.append(render.markdown_table(*payload))
        elif kind == "img":
            out.append(f"![{payload[1]}]({payload[0]})")
    return "\n\n".join(out) + "\n"


def _html(blocks) -> str:
    esc = html.escape
    body = []
    for kind, *payload in blocks:
        if kind == "li":
            body.append(f'<p class="flag">{esc(payload[0])}</p>')
        elif kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{esc(payload[0])}</{kind}>")
        elif kind == "table":
            rows, columns = payload
            head = "".join(f"<th>{esc(c)}</th>" for c in columns)
            cells = "".join("<tr>" + "".join(f"<td>{esc(str(r.get(c, '')))}</td>"
                                             for c in columns) + "</tr>" for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
        elif kind == "img":
            body.append(f'<figure><img src="{esc(payload[0])}" alt="{esc(payload[1])}">'
                        f"<figcaption>{esc(payload[1])}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
             "padding:0 1rem}table{border-collapse:collapse;margin:1rem 0}"
             "td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:right}"
             "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
             ".flag{color:#b00}")
    return ("<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>dfew-build agreement report</title><style>{style}</style></head>"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(session: Session, out_dir, *, raters: int,
                 threshold: int = DEFAULT_THRESHOLD, seed: int = DEFAULT_SEED,
                 check_raters: bool = False) -> dict:
    """Write OUT_DIR/report.md, report.html and the figures; returns their paths and the
    views they show. `check_raters`: refuse a typed --raters that few clips have."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabelsError(f"cannot create the report folder {out}: {exc.strerror}") from None
    matrix = vote_matrix(session)  # one grouped query shared by every view
    kappas = [kappa_view(session, raters=raters, subset=subset, threshold=threshold,
                         seed=seed, matrix=matrix, check_raters=check_raters)
              for subset in ("all", "single")]
    labels_view, subset = single_label_view(session, raters=raters, threshold=threshold,
                                            matrix=matrix)
    people = annotator_view(session)
    complete, _ = counted_table(session, raters, matrix)

    figures = {}
    totals = complete.to_numpy().sum(axis=0)
    label_counts = [int((subset == code).sum()) for code in range(1, len(NAMES) + 1)]
    figures["emotion_distribution"] = plots.emotion_distribution(
        totals / totals.sum(), label_counts, out / FIGURES["emotion_distribution"])
    figures["vote_entropy"] = plots.vote_entropy(complete.to_numpy(),
                                                 out / FIGURES["vote_entropy"])
    if people["annotators"]:
        figures["annotator_agreement"] = plots.annotator_agreement(
            people["annotators"], out / FIGURES["annotator_agreement"])
        figures["annotator_confusion"] = plots.annotator_confusion(
            people["annotators"], out / FIGURES["annotator_confusion"])
    names = {key: path.name for key, path in figures.items()}
    blocks = _sections(kappas, labels_view, people, names)
    markdown, page = out / "report.md", out / "report.html"
    try:
        atomic_write_text(markdown, _markdown(blocks))
        atomic_write_text(page, _html(blocks))
    except OSError as exc:
        raise LabelsError(f"cannot write the report into {out}: {exc.strerror}") from None
    return {"markdown": str(markdown), "html": str(page),
            "figures": [str(p) for p in figures.values()],
            "kappa": kappas, "labels": labels_view, "annotators": people}
