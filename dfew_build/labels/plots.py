"""The report's figures (PNG). matplotlib's object API with the Agg canvas: no pyplot, no
global state, no display needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfew_build.emotions import EMOTIONS, NAMES

# Confusion heatmaps drawn at most (the least accurate annotators first).
MAX_HEATMAPS = 24
# A confusion row is drawn when the annotator saw at least about one clip of that true
# emotion (expected count under the Dawid-Skene posteriors); otherwise it says "not seen".
SEEN_MIN_SUPPORT = 0.5


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _plain_text():
    """rc context with mathtext off: annotator names are user text, and a name such as
    `Ann $\\foo{ x$` would otherwise be parsed as TeX and abort the report."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False})


def _user_text_safe(function):
    """Draw the whole figure under `_plain_text` (Text objects read the setting when
    created, so wrapping only the save is not enough)."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _plain_text():
            return function(*args, **kwargs)

    return wrapper


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


@_user_text_safe
def emotion_distribution(vote_shares, label_counts, path: Path) -> Path:
    """Share of all votes and of single labels per emotion, side by side."""
    figure = _figure(7, 3.6)
    axes = figure.add_subplot()
    x = np.arange(len(EMOTIONS))
    labels = np.asarray(label_counts, dtype=float)
    label_shares = labels / labels.sum() if labels.sum() else labels
    colours = [e.colour for e in EMOTIONS]
    axes.bar(x - 0.2, np.asarray(vote_shares) * 100, 0.4, color=colours, alpha=0.45,
             label="all votes")
    axes.bar(x + 0.2, label_shares * 100, 0.4, color=colours, label="single labels")
    axes.set_xticks(x, NAMES)
    axes.set_ylabel("%")
    axes.set_title("Emotion distribution")
    # Bars carry per-emotion colours, so the legend explains the two shades with grey
    # proxies (a default legend would show the first bar's colour for each series).
    from matplotlib.patches import Patch

    axes.legend(handles=[Patch(color="#555555", alpha=0.45, label="all votes"),
                         Patch(color="#555555", label="single labels")], frameon=False)
    return _save(figure, path)


@_user_text_safe
def vote_entropy(matrix: np.ndarray, path: Path) -> Path:
    """Histogram of each clip's vote entropy in bits (0: unanimous)."""
    counts = np.asarray(matrix, dtype=float)
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)
    figure = _figure(6, 3.4)
    axes = figure.add_subplot()
    axes.hist(entropy, bins=40, range=(0, np.log2(len(EMOTIONS))), color="#4e79a7")
    axes.set_xlabel("vote entropy (bits; 0 = unanimous)")
    axes.set_ylabel("clips")
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # clip counts are whole
    axes.set_title("Vote entropy per clip")
    return _save(figure, path)


@_user_text_safe
def annotator_agreement(annotators: list[dict], path: Path) -> Path:
    """Per annotator: leave-one-out agreement and Dawid-Skene accuracy."""
    names = [a["annotator"] for a in annotators]
    loo = [a["loo_agreement"] or 0.0 for a in annotators]
    ds = [a["ds_accuracy"] for a in annotators]
    figure = _figure(7, 0.6 + 0.32 * len(names))
    axes = figure.add_subplot()
    y = np.arange(len(names))
    axes.barh(y - 0.2, loo, 0.4, color="#4e79a7", label="leave-one-out agreement")
    axes.barh(y + 0.2, ds, 0.4, color="#f28e2b", label="Dawid-Skene accuracy")
    axes.set_yticks(y, names)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_title("Annotator agreement")
    axes.legend(frameon=False, loc="lower right", fontsize=8)
    return _save(figure, path)


def confusion_shown(annotator: dict) -> np.ndarray:
    """The matrix a heatmap draws: float [7, 7], rows true emotion, columns answered (DFEW
    order), P(answered | true) in 0..1, with NaN rows for the emotions the annotator never
    saw (expected clips `support` below SEEN_MIN_SUPPORT). Dawid-Skene smoothing gives such
    a row a uniform 1/7 that is no data. Without `support` every row counts as seen."""
    matrix = np.array(annotator["confusion"], dtype=float)
    support = annotator.get("support")
    if support is not None:
        matrix[np.asarray(support, dtype=float) < SEEN_MIN_SUPPORT] = np.nan
    return matrix


def _clips(expected: float) -> str:
    """An expected clip count for a row label: whole when it is (nearly) whole, else one
    decimal, so a drawn row never reads "(0)" (0.5 rounds to 0)."""
    return f"{expected:.0f}" if abs(expected - round(expected)) < 0.05 else f"{expected:.1f}"


@_user_text_safe
def annotator_confusion(annotators: list[dict], path: Path) -> Path:
    """Dawid-Skene confusion matrices (rows: true emotion with the clips seen, columns:
    answered), the rate in every cell and one colour scale for all; rows of emotions an
    annotator never saw are grey and say "not seen"."""
    shown = sorted(annotators, key=lambda a: a["ds_accuracy"])[:MAX_HEATMAPS]
    shown.sort(key=lambda a: a["annotator"])
    columns = min(4, len(shown))
    rows = -(-len(shown) // columns)
    figure = _figure(3.3 * columns + 0.9, 3.3 * rows + 0.5)
    short = [name[:3] for name in NAMES]
    cmap = _viridis_with_grey()
    image = None
    for i, annotator in enumerate(shown):
        axes = figure.add_subplot(rows, columns, i + 1)
        matrix = confusion_shown(annotator)
        unseen = np.isnan(matrix[:, 0])
        image = axes.imshow(np.ma.masked_invalid(matrix), vmin=0, vmax=1, cmap=cmap)
        for t in range(len(NAMES)):
            if unseen[t]:
                axes.text(len(NAMES) / 2 - 0.5, t, "not seen", ha="center", va="center",
                          fontsize=6.5, color="#555555")
                continue
            for j in range(len(NAMES)):
                value = matrix[t, j]
                # Two places without the leading zero keep seven cells readable in a row.
                text = "1" if value >= 0.995 else f"{value:.2f}"[1:]
                axes.text(j, t, text, ha="center", va="center", fontsize=6,
                          color="black" if value > 0.6 else "white")
        axes.set_title(annotator["annotator"], fontsize=9)
        axes.set_xticks(range(len(NAMES)), short, fontsize=7, rotation=90)
        support = annotator.get("support")
        ticks = short if support is None else [f"{name} ({_clips(s)})"
                                               for name, s in zip(short, support)]
        axes.set_yticks(range(len(NAMES)), ticks, fontsize=7)
        if i % columns == 0:
            axes.set_ylabel("true (clips seen)", fontsize=8)
        axes.set_xlabel("answered", fontsize=8)
    title = "Dawid-Skene confusion matrices"
    if len(annotators) > len(shown):
        title += f" (the {len(shown)} least accurate of {len(annotators)})"
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1 - 0.9 / figure.get_figwidth(), 1))
    bar = figure.add_axes((1 - 0.75 / figure.get_figwidth(), 0.15,
                           0.18 / figure.get_figwidth(), 0.7))
    figure.colorbar(image, cax=bar, label="P(answered | true)")
    figure.savefig(path, format="png", bbox_inches="tight", pad_inches=0.1)
    return path


def _viridis_with_grey():
    import matplotlib

    return matplotlib.colormaps["viridis"].with_extremes(bad="#e0e0e0")
