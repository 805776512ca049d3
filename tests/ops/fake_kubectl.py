"""A stand-in for kubectl: records every call and replays canned output. No cluster needed.

Environment:
    FAKE_KUBECTL_SCENARIO: a directory with ``rules.json`` (and any files it names).
    FAKE_KUBECTL_LOG: a JSON-lines file; each call appends
        {"argv": [...], "args": [...], "context": ..., "namespace": ..., "stdin": ...}
        where ``args`` is argv without the global flags --context/--namespace/-n.

``rules.json`` is a list of rules; the first that matches answers:
    {"args": ["get", "deployments"],      # a prefix of ``args``
     "contains": ["--previous"],          # optional: must appear anywhere in ``args``
     "responses": [{"stdout": "...", "stdout_file": "path", "stderr": "...", "exit": 0}, ...]}
Responses are used in turn and the last repeats (a Job running, then complete). A call no rule
matches exits 97 with a message, so a missing fixture fails loudly.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

GLOBAL_FLAGS = ("--context", "--namespace", "-n")


def split_globals(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    args: list[str] = []
    flags: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        name, eq, value = token.partition("=")
        if name in GLOBAL_FLAGS and eq:
            flags[name.lstrip("-")] = value
        elif token in GLOBAL_FLAGS and i + 1 < len(argv):
            flags[token.lstrip("-")] = argv[i + 1]
            i += 1
        else:
            args.append(token)
        i += 1
    if "n" in flags:
        flags["namespace"] = flags.pop("n")
    return args, flags


def matches(rule: dict[str, Any], args: list[str]) -> bool:
    prefix = rule.get("args", [])
    if args[: len(prefix)] != prefix:
        return False
    return all(item in args for item in rule.get("contains", []))


def main() -> int:
    scenario = Path(os.environ["FAKE_KUBECTL_SCENARIO"])
    argv = sys.argv[1:]
    args, flags = split_globals(argv)
    stdin = sys.stdin.read() if "-f" in args and "-" in args else None
    with open(os.environ["FAKE_KUBECTL_LOG"], "a", encoding="utf-8") as log:
        record = {"argv": argv, "args": args, "stdin": stdin, **flags}
        log.write(json.dumps(record) + "\n")

    rules = json.loads((scenario / "rules.json").read_text(encoding="utf-8"))
    state_file = scenario / "state.json"
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else {}
    for index, rule in enumerate(rules):
        if not matches(rule, args):
            continue
        used = state.get(str(index), 0)
        responses = rule["responses"]
        response = responses[min(used, len(responses) - 1)]
        state[str(index)] = used + 1
        state_file.write_text(json.dumps(state), encoding="utf-8")
        stdout = response.get("stdout", "")
        if "stdout_file" in response:
            stdout = Path(response["stdout_file"]).read_text(encoding="utf-8")
        sys.stdout.write(stdout)
        sys.stderr.write(response.get("stderr", ""))
        return int(response.get("exit", 0))
    sys.stderr.write(f"fake kubectl: no rule for {' '.join(args)}\n")
    return 97


if __name__ == "__main__":
    sys.exit(main())
