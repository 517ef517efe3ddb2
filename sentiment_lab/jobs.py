"""Command line for the run queue: `python -m sentiment_lab.jobs
submit|list|stop|resume|logs|delete|export|import|test-errors`."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from sentiment_lab.runs.archive import export_run, import_run
from sentiment_lab.runs.launch import check_environment, check_processes
from sentiment_lab.runs.pace import about, expected
from sentiment_lab.runs.paths import RunIdError
from sentiment_lab.runs.queue import JobError, JobManager, queue_places
from sentiment_lab.runs.repeats import repeats
from sentiment_lab.runs.worker import parse_args
from sentiment_lab.storage import os_message, reader_gone
from sentiment_lab.training.config import rate_warning
from sentiment_lab.training.data import eval_cut_warning, load_dataset
from sentiment_lab.training.own_head import head_warning
from sentiment_lab.training.records import phase_text, read_status
from sentiment_lab.training.sentence_cuts import cut_warning


def _print_test_errors(manager: JobManager, run_ids: list[str], show: str, csv: str | None) -> None:
    from sentiment_lab.serving.error_analysis import analyse, read_answers, same_test_set  # pandas: only this command

    runs = [read_answers(run_id, manager.folder(run_id)) for run_id in run_ids]
    result = analyse(runs, same_test_set(runs), show)
    print(result.runs.to_string(index=False), "", result.note, sep="\n")
    if len(result.pairs):
        print(result.pairs.to_string(index=False))
    if csv:
        result.sentences.to_csv(csv, index=False)
        print(f"{len(result.sentences):,} sentences written to {csv}")
    else:
        print(result.sentences.head(20).to_string(index=False, max_colwidth=70))


SUBMIT_HINT = "python -m sentiment_lab.jobs submit --help lists a run's settings"


def run_lines(rows: list[dict]) -> list[str]:
    """`jobs list`: one line a run, with its state (a queued run's place in line), where it is (its step, or
    what it does before the first: features, the SVM's fit), best validation and test accuracy."""
    place = queue_places(rows)
    lines = []
    for r in rows:
        state = r["state"] + (" (resumable)" if r.get("resumable") else "")
        if r["id"] in place:
            state += " (next)" if place[r["id"]] == 1 else f" (#{place[r['id']]})"
        where = f"step {r['step']}/{r['total_steps']}" if r.get("total_steps") else "-"
        if r.get("phase"):
            where = phase_text(r["phase"])
        best = f"{r['best_eval_accuracy']:.3f}" if r.get("best_eval_accuracy") else "-"
        test = f" test {r['test_accuracy']:.3f}" if r.get("test_accuracy") is not None else ""
        lines.append(f"{r['id']:60s} {state:21s} {where} best {best}{test}")
    return lines


def _lines(value: str) -> int:
    """--lines: a count of at least 1 (argparse puts the flag's name before the message)."""
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment_lab.jobs", description="Queue, stop and inspect training runs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # submit's flags are the run's: its own parser (parse_args) reads them, --help included.
    sub.add_parser(
        "submit", add_help=False, help="queue a run (train flags follow, see submit --help); prints its id last"
    )
    sub_list = sub.add_parser("list", help="list runs")
    sub_list.add_argument("--json", action="store_true")
    p_stop = sub.add_parser("stop", help="stop a running run or cancel a queued one")
    p_stop.add_argument("run")
    p_resume = sub.add_parser("resume", help="go on with a stopped or failed run from its last evaluation (queued)")
    p_resume.add_argument("run")
    p_delete = sub.add_parser("delete", help="delete an ended run's folder (checkpoint, metrics, log)")
    p_delete.add_argument("run")
    p_logs = sub.add_parser("logs", help="print the tail of a run's log")
    p_logs.add_argument("run")
    p_logs.add_argument("--lines", type=_lines, default=200, help="the last this many lines (default 200)")
    p_export = sub.add_parser("export", help="a finished run as one zip file (config, curves, results, weights)")
    p_export.add_argument("run")
    p_export.add_argument("--out", default=".", help="folder for RUN_ID.zip (default: here)")
    p_import = sub.add_parser("import", help="add a run from a zip made by export (or the app's Download)")
    p_import.add_argument("archive")
    p_errors = sub.add_parser(
        "test-errors", help="where finished runs go wrong on their shared test set, and where they differ"
    )
    p_errors.add_argument("runs", nargs="+")
    p_errors.add_argument(
        "--show",
        choices=["disagree", "any", "all"],
        default="disagree",
        help="which sentences: where the runs disagree (default), where any or all are wrong",
    )
    p_errors.add_argument("--csv", help="write those sentences to this CSV file")
    args, rest = parser.parse_known_args(argv)
    try:
        check_environment()
        manager = JobManager()
        if args.command == "submit":
            from sentiment_lab.training import methods  # torch: only a submit needs it

            # The same flags and checks as the worker, its messages under the command typed.
            cfg = parse_args(rest, prog="python -m sentiment_lab.jobs submit", queued=True).cfg
            warnings = methods.check(cfg, shutil.disk_usage(manager.root).free) + rate_warning(cfg)
            check_processes(cfg.processes)
            # The data is read before the run is queued, as the app does: a wrong path or column fails here.
            data = load_dataset(cfg.data.dataset, cfg.data.text_column, cfg.data.label_column, cfg.seed)
            warnings += data.warnings + eval_cut_warning(data, cfg.data.max_eval_samples) + cut_warning(cfg, data)
            warnings += head_warning(cfg, data)
            warnings += repeats(manager, [cfg])
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
            run_id = manager.submit(cfg)
            took = expected(manager, {run_id: cfg}).get(run_id)
            if took is not None:
                print(f"note: runs with the same model, data and budget took about {about(took)} here", file=sys.stderr)
            print(run_id)
        elif rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        elif args.command == "list":
            rows = manager.list()
            if args.json:
                print(json.dumps(rows, indent=1))
            else:
                print(*run_lines(rows) or [f"no runs in {manager.root} yet: {SUBMIT_HINT}"], sep="\n")
        elif args.command == "stop":
            said = manager.stop(args.run, wait=True)
            if said != "stopping":  # cancelled before it began: stop() says what became of it
                print(said)
            else:  # it has ended: say how (stopped cleanly at a step with its state saved, or killed)
                status = read_status(manager.folder(args.run))
                print(status.get("error") or status.get("state"))
        elif args.command == "resume":
            print(manager.resume(args.run))
        elif args.command == "delete":
            print(manager.delete(args.run))
        elif args.command == "logs":
            print(manager.logs(args.run, args.lines) or "(nothing logged yet)")
        elif args.command == "export":
            print(export_run(manager, args.run, Path(args.out)))
        elif args.command == "import":
            print(import_run(manager, args.archive))
        elif args.command == "test-errors":
            _print_test_errors(manager, args.runs, args.show, args.csv)
    except (JobError, RunIdError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return reader_gone()
    except OSError as e:  # a path given to write to (--out, --csv) that cannot be written
        print(f"error: {os_message(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
