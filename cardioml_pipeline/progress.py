"""Run a command that materializes assets (`dg launch --assets '*'`), keep its whole log in a file
and print a short progress line per step, with the image stage's images done/total.

    python -m cardioml_pipeline.progress --log data/dagster_home/last_materialize.log -- dg launch --assets '*'

The log lines are Dagster's own (``<time> - dagster - <LEVEL> - <job> - <run id> - [<pid> -] <step> -
[<EVENT> -] <message>``); only step events and the project's own progress messages are shown, never
patient rows.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STEP_EVENT = re.compile(r" - (?P<step>[A-Za-z0-9_]+) - (?P<event>STEP_START|STEP_SUCCESS|STEP_FAILURE) - (?P<message>.*)$")
_INFO = re.compile(r" - dagster - INFO - [^ ]+ - [0-9a-f-]{36} - (?P<step>[A-Za-z0-9_]+) - (?P<message>.*)$")
_DURATION = re.compile(r" in (?P<duration>[^ ].*?)\.?$")
# The project's progress messages worth showing while a long step runs.
_SHOWN_MESSAGES = (re.compile(r"^image stage: "), re.compile(r"^QC gallery "), re.compile(r"^exports/wfdb: "))

# Warnings that Dagster raises about the CLI call itself (the '*' selection uses a beta parameter),
# not about this project's code: hidden from the log and the screen.
QUIET_WARNINGS = "ignore:Parameter `include_sources`"


@dataclass
class ProgressState:
    started: float = field(default_factory=time.monotonic)
    steps_started: int = 0
    steps_done: int = 0
    failed: list[str] = field(default_factory=list)


def progress_line(line: str, state: ProgressState) -> str | None:
    """The line to show for one log line, or None. Updates the step counters in ``state``."""
    line = _ANSI.sub("", line.rstrip("\n"))
    elapsed = f"{time.monotonic() - state.started:6.0f}s"
    step = _STEP_EVENT.search(line)
    if step:
        name, event = step["step"], step["event"]
        if event == "STEP_START":
            state.steps_started += 1
            return None
        if event == "STEP_SUCCESS":
            state.steps_done += 1
            duration = _DURATION.search(step["message"])
            took = f" ({duration['duration']})" if duration else ""
            return f"{elapsed}  step {state.steps_done:>2} done: {name}{took}"
        state.failed.append(name)
        return f"{elapsed}  step FAILED: {name}: {step['message'][:200]}"
    info = _INFO.search(line)
    if info and any(p.search(info["message"]) for p in _SHOWN_MESSAGES):
        return f"{elapsed}  {info['message']}"
    return None


def run_with_progress(command: list[str], log_path: Path, out=sys.stdout) -> int:
    """Run ``command``, writing all its output to ``log_path`` and progress lines to ``out``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS"), QUIET_WARNINGS) if w)
    state = ProgressState()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env, bufsize=1)
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            shown = progress_line(line, state)
            if shown:
                print(shown, file=out, flush=True)
        code = process.wait()
    if code == 0 and state.failed:
        code = 1
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, type=Path, help="file that receives the command's whole output")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    return run_with_progress(command, args.log)


if __name__ == "__main__":
    sys.exit(main())
