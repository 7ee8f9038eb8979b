"""`dfew-build models`, `dfew-build train` and `dfew-build evaluate` (the benchmark)."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, format_table, pass_state, show_progress


class FoldType(click.ParamType):
    name = "1..k|all"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "all":
            return value
        text = str(value).strip().lower()
        if text == "all":
            return "all"
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is not a fold number (1, 2, …) or 'all'", param, ctx)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models(as_json) -> None:
    """List the benchmark models: reference input size (DFEW's configurations), parameters
    (ours and, where known, DFEW's official count), GMACs per 16-frame clip at that size,
    and the published figures: GMACs (the paper's; 'G@INPUT=OURS' when it was counted at
    another input than ours, with our count there) and DFEW UAR/WAR %."""
    from dfew_build.bench.catalog import describe_models

    rows = describe_models()
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        row["parameters"] = f"{row['parameters']:,}"
        row["dfew_parameters"] = ("–" if row["dfew_parameters"] is None
                                  else f"{row['dfew_parameters']:,}")
        row["gmacs"] = f"{row['gmacs']:.2f}"
        cost, dfew = row["published_cost"], row["published_dfew"]
        if cost is None:
            row["paper_gmacs"] = "–"
        elif cost["input"] == row["input"]:
            row["paper_gmacs"] = f"{cost['gmacs']:.2f}"
        else:  # counted at another input: 'paper@input=ours there'
            row["paper_gmacs"] = f"{cost['gmacs']:g}@{cost['input']}={cost['ours']:g}"
        row["dfew_uar/war"] = "–" if dfew is None else f"{dfew['uar']:.2f}/{dfew['war']:.2f}"
    click.echo(format_table(rows, ["name", "paper_name", "input", "parameters",
                                   "dfew_parameters", "gmacs", "feature_dim", "paper_gmacs",
                                   "dfew_uar/war"]))


def _percent(value) -> str:
    return "–" if value is None or value != value else f"{100 * value:.2f}%"


def _pm(value, sd) -> str:
    """A mean in percent with its standard deviation: '70.31% ± 28.37'."""
    return _percent(value) + ("" if sd is None or sd != sd else f" ± {100 * sd:.2f}")


@click.command()
@click.option("--model", help="Model name (see `dfew-build models`). Required unless --resume.")
@click.option("--loss", default="ce", show_default=True,
              help="ce, center, ecstfl (DFEW eq. 9), ecstfl_released (the released code's "
                   "formula), ldl (KL to the vote distribution) or combo (LFER-LDL).")
@click.option("--ldl", is_flag=True,
              help="Label-distribution learning on top of --loss: + KL to each clip's "
                   "normalised counted votes.")
@click.option("--ldl-weight", type=float,
              help="Weight of the --ldl term [default: 1; 1/7 with --loss combo].")
@click.option("--combo-alpha", type=float, help="Combo loss α [default: 0.5].")
@click.option("--combo-beta", type=float, help="Combo loss β [default: 0.2].")
@click.option("--lambda", "lambda_", type=float,
              help="Trade-off λ of center (default 1e-4), ecstfl or ecstfl_released "
                   "(default 10).")
@click.option("--fold", type=FoldType(), default="1", show_default=True,
              help="Test fold k (train on the others), or 'all' for the k-fold protocol.")
@click.option("--scheme", default="default", show_default=True,
              help="Fold scheme ('dfew-official' after import-dfew).")
@click.option("--epochs", type=int,
              help="Epochs [default: 30; the paper's for nr_dfernet 70, former_dfer 100, "
                   "lfer_ldl 120].")
@click.option("--batch-size", type=int,
              help="[default: 24 (DFEW); 32 for nr_dfernet, former_dfer, lfer_ldl].")
@click.option("--lr", type=float,
              help="Initial learning rate [default: sgd 0.01, adam 1e-4; nr_dfernet 1e-3].")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), help="[default: sgd]")
@click.option("--weight-decay", type=float,
              help="[default: 5e-4; 1e-4 for nr_dfernet, former_dfer, lfer_ldl].")
@click.option("--scheduler", type=click.Choice(["plateau", "exponential", "step"]),
              help="lr schedule: × γ on a training-loss plateau (DFEW), every epoch, or "
                   "every --lr-step epochs [default: plateau; nr_dfernet exponential, "
                   "former_dfer and lfer_ldl step].")
@click.option("--lr-gamma", type=float,
              help="The schedule's factor γ [default: 0.1; exponential 0.9].")
@click.option("--lr-step", type=int,
              help="Epochs per step of --scheduler step [default: 30; former_dfer 40].")
@click.option("--patience", type=int, default=3, show_default=True,
              help="Epochs without a lower training loss before the lr is divided by 10.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="[default: cpu]")
@click.option("--amp", is_flag=True, default=None, help="Mixed precision (CUDA only).")
@click.option("--input", "input_", type=click.Choice(["tensors", "frames"]),
              help="Tensor store (TIM) or dynamic U×V frame sampling [default: tensors; "
                   "frames for nr_dfernet and former_dfer, as their papers].")
@click.option("--size", type=int,
              help="Frame side in pixels: the tensor store {size}px_16f [default: the model's "
                   "reference input size, DFEW's configuration: p3d 160, i3d 224, others 112; "
                   "see `dfew-build models`].")
@click.option("--workers", type=click.IntRange(0),
              help="Data-loader processes [default: half the CPU cores, at most 4].")
@click.option("--balanced", is_flag=True, help="Class-balanced oversampling.")
@click.option("--plurality", is_flag=True,
              help="Also train on the scheme's clips without a single label, by their "
                   "plurality vote (for folds made with --subset all).")
@click.option("--select", type=click.Choice(["last", "best"]),
              help="Report the last epoch, or the epoch with the best test UAR [default: "
                   "--keep's checkpoint when it is best or last, else last].")
@click.option("--keep", type=click.Choice(["best", "last", "both"]),
              help="Checkpoints that stay once a fold has finished [default: the one "
                   "--select reports]. best.pt holds weights only; last.pt also the "
                   "optimiser state, so only a run that kept it can go on for more epochs "
                   "with --resume.")
@click.option("--snippet-filter/--no-snippet-filter", default=None,
              help="NR-DFERNet's snippet-based filter at evaluation [default: on for "
                   "nr_dfernet]; both results are reported either way.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init-from", metavar="CKPT|RUN", help="Start from these weights (fine-tuning).")
@click.option("--resume", metavar="RUN", help="Continue an interrupted run from its last.pt.")
@click.option("--dry-run", is_flag=True, help="One batch of 2 forward and backward, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def train(state, model, loss, ldl, ldl_weight, combo_alpha, combo_beta, lambda_, fold, scheme,
          epochs, batch_size, lr, optimizer, weight_decay, scheduler, lr_gamma, lr_step,
          patience, device, amp, input_, size, workers, balanced, plurality, select, keep,
          snippet_filter, seed, init_from, resume, dry_run, as_json) -> None:
    """Train a benchmark model on the workspace's folds (DFEW §4).

    Trains on the folds other than --fold and tests on it, or runs every fold with
    --fold all and writes the per-fold, mean and pooled UAR/WAR in the layout of DFEW's
    tables. nr_dfernet, former_dfer and lfer_ldl default to their papers' recipes
    (optimizer, lr and schedule, batch, epochs, input); any option given wins. Results go
    to WS/runs/RUN/ (config.json, metrics.csv, last.pt and/or best.pt as --keep says,
    predictions.csv, confusion.png, tsne.png) and to the `run` table. Needs the tensor
    store (`dfew-build preprocess`) and folds (`dfew-build folds`). Everything is checked
    before the run folder is made; Ctrl-C says what is saved and the command that resumes.

    \b
    Multi-GPU: torchrun --nproc_per_node 4 $(which dfew-build) train --device cuda --amp ...
    """
    from dfew_build.bench.config import TrainConfig, default_workers
    from dfew_build.bench.metrics import absent_note, uar_scope
    from dfew_build.bench.protocol import dry_run as run_dry, train as run_train
    from dfew_build.errors import TrainingError

    workspace = state.workspace()
    if amp and (device or "cpu") == "cpu" and not resume:
        # autocast is CUDA only here: say so rather than train in float32 unasked
        click.echo("warning: --amp (mixed precision) runs on CUDA only; this --device cpu "
                   "run trains in float32", err=True)
    if resume:
        if model or init_from:
            raise TrainingError("--resume continues a run with its own settings; leave out "
                                "--model/--init-from (only --epochs, --device, --workers, "
                                "--amp may change)")
        config = None
    else:
        if not model:
            raise TrainingError("--model is required (see `dfew-build models`), or "
                                "--resume RUN")
        config = TrainConfig.for_model(
            model, loss=loss, ldl=ldl, ldl_weight=ldl_weight, combo_alpha=combo_alpha,
            combo_beta=combo_beta, lambda_=lambda_, fold=fold, scheme=scheme, epochs=epochs,
            batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay,
            scheduler=scheduler, lr_gamma=lr_gamma, lr_step=lr_step, patience=patience,
            device=device or "cpu", amp=bool(amp), input=input_, size=size,
            workers=default_workers() if workers is None else workers, balanced=balanced,
            plurality=plurality, select=select, keep=keep, snippet_filter=snippet_filter,
            seed=seed, init_from=init_from)
    if dry_run:
        if config is None:
            raise TrainingError("--dry-run checks a new configuration; leave out --resume")
        result = run_dry(workspace, config)
        if as_json:
            echo_json(result)
        else:
            click.echo(f"dry run ok: {result['model']} + {result['loss_name']}, batch "
                       f"{result['batch']}, loss {result['loss']:.4f} "
                       f"({result['train_clips']} training / {result['test_clips']} test clips)")
        return

    def on_epoch_end(epoch, row):
        if row is not None and not as_json:
            click.echo(f"fold {row['fold']} epoch {epoch}: train loss {row['train_loss']:.4f}, "
                       f"test UAR {_percent(row['test_uar'])} WAR {_percent(row['test_war'])} "
                       f"(lr {row['lr']:g})", err=True)

    result = run_train(workspace, config, resume=resume, progress=show_progress(),
                       overrides={"epochs": epochs, "device": device, "workers": workers,
                                  "amp": amp},
                       on_epoch_end=on_epoch_end)
    metrics = result["metrics"]
    if not metrics:  # a DistributedDataParallel rank other than 0: rank 0 reports
        return
    if as_json:
        echo_json({"run": result["run"], "run_dir": str(result["run_dir"]), **metrics})
        return
    if metrics.get("fold") == "all":
        click.echo((result["run_dir"] / "summary.md").read_text(encoding="utf-8"))
        pooled = metrics["pooled"]
        click.echo(f"run {result['run']}: UAR {_pm(metrics['uar'], metrics['uar_sd'])}, WAR "
                   f"{_pm(metrics['war'], metrics['war_sd'])} (mean ± sd over "
                   f"{len(metrics['folds'])} folds); pooled over {pooled['n']} test clips: "
                   f"UAR {_percent(pooled['uar'])}{uar_scope(pooled)}, WAR "
                   f"{_percent(pooled['war'])} ({result['run_dir']})")
        return
    note = absent_note(metrics)
    click.echo(f"run {result['run']}: UAR {_percent(metrics['uar'])}{uar_scope(metrics)}, WAR "
               f"{_percent(metrics['war'])} on {metrics['n']} test clips "
               f"({result['run_dir']})" + (f"; {note}" if note else ""))
    if metrics.get("snippet_filter"):
        click.echo(filter_line(metrics["snippet_filter"]))


def filter_line(effect: dict) -> str:
    """One line on NR-DFERNet's snippet-based filter: its settings, whether it is on, UAR
    and WAR without → with it, and what it changed."""
    state = "on" if effect["on"] else "off (reported without it)"
    off, on = effect["unfiltered"], effect["filtered"]
    return (f"snippet filter (L = {effect['window']}, S = {effect['stride']}, "
            f"μ1 = {effect['mu1']:g}, μ2 = {effect['mu2']:g}) {state}: UAR "
            f"{_percent(off['uar'])} → {_percent(on['uar'])}, WAR {_percent(off['war'])} → "
            f"{_percent(on['war'])} without → with it; neutral zeroed for "
            f"{effect['neutral_zeroed']} of {effect['n']} clips, {effect['changed']} "
            f"prediction{'' if effect['changed'] == 1 else 's'} changed ({effect['fixed']} "
            f"now right, {effect['broken']} now wrong)")


@click.command()
@click.argument("run")
@click.option("--on", "on_workspace", metavar="WORKSPACE",
              help="Score on another workspace (transfer); all its single-labelled clips "
                   "unless --fold is given.")
@click.option("--fold", type=int, help="Test fold [default: the run's].")
@click.option("--scheme", help="Fold scheme [default: the run's].")
@click.option("--checkpoint", type=click.Choice(["best", "last"]),
              help="Which checkpoint [default: the one the run reported].")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--workers", type=int, help="Data-loader processes [default: the run's].")
@click.option("--snippet-filter/--no-snippet-filter", default=None,
              help="Report NR-DFERNet's predictions with or without its snippet-based filter "
                   "[default: the run's setting]; the effect is printed either way.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def evaluate(state, run, on_workspace, fold, scheme, checkpoint, device, workers,
             snippet_filter, as_json) -> None:
    """Re-score the checkpoint of RUN (a folder name under WS/runs, e.g. NAME/fold1).

    Writes WS/runs/RUN/evaluations/STAMP/ (metrics.json, predictions.csv, confusion.png).
    """
    from dfew_build.bench.metrics import absent_note, uar_scope
    from dfew_build.bench.protocol import evaluate_run
    from dfew_build.workspace import open_workspace

    workspace = state.workspace()
    other = open_workspace(on_workspace) if on_workspace else None
    metrics = evaluate_run(workspace, run, on=other, fold=fold, scheme=scheme,
                           checkpoint=checkpoint, device=device, workers=workers,
                           snippet_filter=snippet_filter, progress=show_progress())
    if as_json:
        echo_json(metrics)
        return
    rows = [{"emotion": name,
             "recall": "– (no test clip)" if value is None else _percent(value)}
            for name, value in metrics["per_class_recall"].items()]
    click.echo(format_table(rows, ["emotion", "recall"]))
    note = absent_note(metrics)
    click.echo(f"{run} ({metrics['checkpoint']}.pt, epoch {metrics['epoch']}) on "
               f"{metrics['on']}: UAR {_percent(metrics['uar'])}{uar_scope(metrics)}, WAR "
               f"{_percent(metrics['war'])}, {metrics['n']} clips -> {metrics['output']}"
               + (f"\n{note}" if note else ""))
    if metrics.get("snippet_filter"):
        click.echo(filter_line(metrics["snippet_filter"]))
