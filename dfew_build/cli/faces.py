"""`dfew-build preprocess` and `dfew-build faces show|list`."""

from __future__ import annotations

import click

from dfew_build.cli.base import (echo_json, format_table, narrow_resume, pass_state,
                                 show_progress)
from dfew_build.cli.clips import executor_options, make_executor


@click.command()
@click.option("--detector", type=click.Choice(["auto", "mtcnn", "insightface"]),
              help="Face detector (default: faces.detector in dfew.toml, 'auto': insightface "
                   "when a model pack is found, else mtcnn).")
@click.option("--model-dir", type=click.Path(), metavar="DIR",
              help="insightface model pack (a folder holding det_*.onnx / scrfd*.onnx).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu",
              show_default=True,
              help="cuda: detection and alignment batched on the GPU, in this process; "
                   "auto: cuda when PyTorch sees a GPU, else cpu (as in clips propose).")
@click.option("--frames", type=click.IntRange(1, 1000), metavar="T",
              help="Frames per clip in the tensor store (default: faces.frames, 16).")
@click.option("--size", type=int, metavar="PX",
              help="Aligned face size, a multiple of 112 or 128 (default: faces.size, 112).")
@click.option("--temporal", type=click.Choice(["tim", "linear", "uniform", "dfew"]),
              help="Temporal normalisation to T frames (default: faces.temporal, tim).")
@click.option("--min-face-rate", type=click.FloatRange(0, 1), metavar="RATE",
              help="Drop clips whose protagonist is in fewer than this share of frames "
                   "(default: faces.min_face_rate, 0.5).")
@click.option("--min-face", type=click.FloatRange(1, None), metavar="PX",
              help="Smallest face searched, in pixels of the clip (default: faces.min_face, "
                   "40; clips propose uses the same).")
@click.option("--detect-size", type=click.IntRange(0, None), metavar="PX",
              help="Long side the detector searches at; landmarks stay at full resolution "
                   "(default: faces.detect_size, 640; 0: full resolution).")
@click.option("--detect-every", type=click.IntRange(1, 1000), metavar="K",
              help="Run the whole detector on every K-th frame and track the faces on the "
                   "frames between with O-Net, which also places their landmarks; a frame "
                   "where a tracked face is lost is detected in full (MTCNN; default: "
                   "faces.detect_every, 4; 1: every frame).")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Worker processes on the CPU, each with its own detector and cores/jobs "
                   "threads (local executor; Ray runs one task per CPU).")
@executor_options
@click.option("--batched", is_flag=True,
              help="Detect frames of several clips per batch in this process (what "
                   "--device cuda does), here on the CPU; for checking the GPU path.")
@click.option("--clips", "clip_ids", metavar="IDS",
              help="Only these clips, e.g. 1,2,5-9 (default: every cut clip).")
@click.option("--redo", is_flag=True, help="Process the clips again even if done.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and every clip as JSON.")
@pass_state
def preprocess(state, detector, model_dir, device, frames, size, temporal, min_face_rate,
               min_face, detect_size, detect_every, jobs, executor, ray_address, batched,
               clip_ids, redo, as_json) -> None:
    """Detect, track, align and normalise the faces of every cut clip.

    For each clip: every frame is decoded and searched for faces; detections are linked
    by IoU into tracks and the longest track is the protagonist; face rate = frames with
    the protagonist / frames. Clips under --min-face-rate are dropped
    (dropped_low_face_rate); unreadable clips are recorded as failed with the reason and
    the batch goes on. Kept clips get every aligned face as JPEG in
    WS/faces/frames/NNNNN/ and a T-frame row in WS/faces/tensors/{size}px_{T}f.npy.

    Re-running does only what is missing (failed clips are tried again); --redo does all.
    Ctrl-C says how many clips are saved and the command that does the rest.
    """
    from dfew_build.faces.pipeline import parse_clip_ids
    from dfew_build.faces.pipeline import preprocess as run_preprocess

    from dfew_build.errors import Interrupted

    workspace = state.workspace()
    ids = parse_clip_ids(clip_ids) if clip_ids else None
    try:
        with make_executor(executor, ray_address) as runner:
            report = run_preprocess(
                workspace, detector=detector, model_dir=model_dir, device=device,
                frames=frames, size=size, temporal=temporal, min_face_rate=min_face_rate,
                min_face=min_face, detect_size=detect_size, detect_every=detect_every,
                jobs=jobs, clip_ids=ids, redo=redo, batched=batched or None,
                progress=show_progress() and not as_json, executor=runner)
    except Interrupted as exc:  # --redo again would redo the clips just done: name the rest
        narrow_resume(exc, flag="--redo", ids_option="--clips", ranges=True)
        raise
    summary = report.summary()
    if as_json:
        echo_json({"summary": summary, "clips": [r.as_dict() for r in report.results],
                   "not_cut": report.not_cut})
        return
    for result in report.problems():
        click.echo(f"{result.status}: clip {result.clip_id}: {result.reason}", err=True)
    for line in report.not_cut_advice():
        click.echo(line, err=True)
    options = report.options
    click.echo(f"preprocessed {len(report.results)} clips with {summary['detector']}: "
               f"kept {summary['kept']}, dropped (face rate < {options.min_face_rate:g}) "
               f"{summary['dropped_low_face_rate']}, failed {summary['failed']}; "
               f"already done {summary['already_done']}")
    if report.results:
        click.echo(f"{summary['frames']} frames in {summary['seconds']} s "
                   f"({summary['frames_per_s']} frames/s); tensors: "
                   f"faces/tensors/{options.size}px_{options.frames}f.npy")


@click.group()
def faces() -> None:
    """Inspect preprocessing results."""


@faces.command("show")
@click.argument("clip_id", type=int, metavar="CLIP")
@click.argument("out", type=click.Path(dir_okay=False), metavar="OUT.png")
@click.option("--frames", default=16, show_default=True, type=click.IntRange(1, 1000))
@click.option("--size", default=112, show_default=True, type=int)
@pass_state
def show(state, clip_id, out, frames, size) -> None:
    """Write a contact sheet of CLIP's normalised aligned faces to OUT.png."""
    from dfew_build.faces.sheet import write_contact_sheet

    path = write_contact_sheet(state.workspace(), clip_id, out, size=size, frames=frames)
    click.echo(f"wrote {path}")


@faces.command("list")
@click.option("--status", type=click.Choice(["kept", "dropped_low_face_rate", "failed"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_faces(state, status, as_json) -> None:
    """Each clip's preprocessing result: frames, face rate, status, reason."""
    from dfew_build.faces.results import list_face_tracks

    rows = list_face_tracks(state.workspace(), status=status)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no preprocessing results yet; run dfew-build preprocess")
        return
    for row in rows:
        row["rate"] = f"{row['face_rate']:.2f}"
    click.echo(format_table(rows, ["clip_id", "detector", "status", "frames_total",
                                   "frames_with_face", "rate", "reason"]))
