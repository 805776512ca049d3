"""``python -m leadgen.ops`` is ``leadgen k8s`` without the main CLI."""

from leadgen.ops.cli import app

app(prog_name="leadgen k8s")
