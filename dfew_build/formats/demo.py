"""The demo's folds + interop step: folds sized for a handful of clips, then a DFEW-layout
export to WS/exports/dfew. Running it again changes nothing."""

from __future__ import annotations

from pathlib import Path

from dfew_build.formats.dfew_export import export_dfew
from dfew_build.labels.views import raters_per_clip
from dfew_build.splits import (DEFAULT_SCHEME, candidate_labels, leakage_groups, plan_folds,
                               save_folds)

DEMO_EXPORT = Path("exports", "dfew")
MAX_K = 5
# From most to least faithful to DFEW's protocol: (subset, only clips preprocessing kept).
_CHOICES = (("single", True), ("all", True), ("single", False), ("all", False))


def _choose(session, raters: int) -> tuple[str, bool, int] | None:
    """The most faithful choice that gives MAX_K clips, else the one with the most clips."""
    best = None
    for subset, kept_only in _CHOICES:
        count = len(candidate_labels(session, subset=subset, raters=raters,
                                     require_kept=kept_only)[0])
        if count >= MAX_K:
            return subset, kept_only, count
        if count >= 2 and (best is None or count > best[2]):
            best = (subset, kept_only, count)
    return best


def _explain(subset: str, kept_only: bool, count: int, k: int, groups: int) -> str:
    parts = [f"{count} clip(s) in {k} folds"]
    if subset == "all":
        parts.append("--subset all: too few single-labelled clips (at least 7 of 10 votes), "
                     "so every voted clip is split by its plurality vote")
    if not kept_only:
        parts.append("--include-unprocessed: preprocessing kept too few clips")
    if groups < count:
        again = f"dfew-build folds --k {k}" + (" --subset all" if subset == "all" else "") \
            + ("" if kept_only else " --include-unprocessed")
        parts.append(f"near-duplicate or overlapping clips kept together: {groups} group(s) "
                     f"of clips (`{again}` prints the pairs)")
    if k < MAX_K:
        units = f"{count} such clips" if groups == count else f"{groups} such groups"
        parts.append(f"k = {k} instead of DFEW's 5: the demo has only {units}")
    return "; ".join(parts)


def run_formats_demo(workspace, *, scheme: str = DEFAULT_SCHEME, progress: bool = False) -> dict:
    if isinstance(workspace, (str, Path)):
        from dfew_build.workspace import open_workspace

        workspace = open_workspace(workspace)
    raters = raters_per_clip(workspace.config)
    with workspace.session() as session:
        choice = _choose(session, raters)
        if choice is None:
            folds = {"scheme": scheme, "status": "not made",
                     "why": "fewer than 2 voted clips: nothing to split"}
        else:
            subset, kept_only, count = choice
            labels = candidate_labels(session, subset=subset, raters=raters,
                                      require_kept=kept_only)[0]
            groups = len(set(leakage_groups(session, labels.index, workspace=workspace,
                                            progress=progress)[1].values()))
            k = min(MAX_K, groups)
        if choice is not None and groups < 2:
            folds = {"scheme": scheme, "status": "not made",
                     "why": f"the {count} clip(s) are near-duplicates or overlap: one group, "
                            "nothing to split (dfew-build folds --allow-leakage splits them)"}
        elif choice is not None:
            plan = plan_folds(session, k=k, scheme=scheme, subset=subset, raters=raters,
                              require_kept=kept_only, workspace=workspace, progress=progress)
            # The demo owns its scheme: when the demo's clips change, its folds follow.
            plan = save_folds(session, plan, replace=True)
            folds = {"scheme": scheme, "k": k, "subset": subset,
                     "include_unprocessed": not kept_only, "clips": int(len(plan.folds)),
                     "status": plan.status, "why": _explain(subset, kept_only, count, k, groups),
                     "command": " ".join(["dfew-build folds", f"--k {k}", f"--scheme {scheme}",
                                          *(["--subset all"] if subset == "all" else []),
                                          *([] if kept_only else ["--include-unprocessed"]),
                                          "--replace"])}
    report = export_dfew(workspace, Path(workspace.root) / DEMO_EXPORT, scheme=scheme,
                         progress=progress)
    export = {"out": str(report.out), "clips": report.clips, "folds": report.folds,
              "files": report.files.as_dict(),
              "missing": {reason: len(ids) for reason, ids in report.missing.items()},
              "notes": report.notes,
              "command": f"dfew-build export --format dfew {DEMO_EXPORT.as_posix()} "
                         f"--scheme {scheme}"}
    return {"folds": folds, "export": export}
