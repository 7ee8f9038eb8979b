"""The agreement summary on the admin page, from the labels module (`dfew-build kappa`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dfew_build.errors import LabelsError


def agreement_summary(db: Session, raters: int) -> dict | None:
    """{'rows': [...]} (Fleiss' kappa, all clips and the single-labelled ones), {'error': why}
    when it cannot be measured yet, or None when the labels module is not installed."""
    try:
        from dfew_build.labels.views import kappa_view
    except ImportError:
        return None
    rows = []
    for subset in ("all", "single"):
        try:
            # No bootstrap interval here: the page must stay fast; `dfew-build kappa` has it.
            view = kappa_view(db, raters=raters, subset=subset, bootstrap=0)
        except LabelsError as exc:
            if subset == "all":
                return {"error": str(exc)}
            rows.append({"subset": subset, "clips": 0, "kappa": None, "band": None,
                         "left_out": str(exc)})
            continue
        # What was left out, in the labels module's own words (fewer than 2 counted votes,
        # retired clips, excluded annotators' votes).
        left = list(view.get("left_out_phrases", []))
        if view.get("not_single_labelled"):
            left.append(f"{view['not_single_labelled']} not single-labelled")
        overall = view["overall"]
        rows.append({"subset": subset, "clips": view["N"], "kappa": overall["kappa"],
                     "band": overall["band"] or overall.get("undefined_reason"),
                     "left_out": "; ".join(left)})
    return {"rows": rows}
