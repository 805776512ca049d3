"""Errors the ``leadgen k8s`` commands report, each with the fix and an exit code.

Exit codes (documented in ``leadgen k8s --help``):
- 0: done, or every check passed (warnings included);
- 1: something failed: validation, a rollout, the migration, a health check, a kubectl call;
- 2: could not start: bad arguments, kubectl or the context missing, prod not confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class OpsError(Exception):
    """An error with a message for people, an optional fix and an exit code."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(OpsError):
    """The command cannot run as asked (arguments, confirmation, local setup)."""

    exit_code = EXIT_USAGE


class KubectlNotFoundError(UsageError):
    pass


class ContextError(UsageError):
    pass


class RuleError(OpsError):
    """A decision refused the request (for example a revision that does not exist)."""


# What kubectl prints when the API server could not answer this once: unreachable for a moment
# (a control-plane restart, a load balancer's blip), overloaded, or timing out.
TRANSIENT_ERRORS = (
    "Unable to connect to the server",
    "connection to the server",
    "connection refused",
    "connection reset by peer",
    "i/o timeout",
    "TLS handshake timeout",
    "http2: client connection lost",
    "unexpected EOF",
    "(ServiceUnavailable)",
    "(InternalError)",
    "(Timeout)",
    "(TooManyRequests)",
    "etcdserver: request timed out",
    "etcdserver: leader changed",
)


class KubectlError(OpsError):
    """kubectl ran and failed."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        detail = stderr.strip() or f"exit code {returncode}"
        super().__init__(f"`kubectl {' '.join(args)}` failed: {detail}", hint=_hint_for(stderr))
        self.args_run = tuple(args)
        self.returncode = returncode
        self.stderr = stderr

    @property
    def not_found(self) -> bool:
        return "(NotFound)" in self.stderr

    @property
    def unknown_resource_type(self) -> bool:
        """The API server does not serve this kind (its CRD is not installed)."""
        return "doesn't have a resource type" in self.stderr

    @property
    def forbidden(self) -> bool:
        return "(Forbidden)" in self.stderr

    @property
    def transient(self) -> bool:
        """The API server did not answer this time; the same call may succeed a moment later."""
        return any(marker in self.stderr for marker in TRANSIENT_ERRORS)


def _hint_for(stderr: str) -> str | None:
    if any(marker in stderr for marker in ("connection to the server", "Unable to connect to the server", "dial tcp")):
        return "The API server is unreachable: check the context (--context) and your network/VPN."
    if "(Forbidden)" in stderr:
        return "Your credentials lack this permission; ask for the leadgen operator role."
    if "Apply failed with" in stderr and "conflict" in stderr:
        return (
            "A field was changed outside `leadgen k8s deploy` (for example by `rollback` or "
            "`scale --hpa`). Put the change into the overlay, or rerun with --force-conflicts "
            "to make the overlay win."
        )
    if "You must be logged in" in stderr or "Unauthorized" in stderr:
        return "Your credentials expired: log in to the cluster again."
    return None
