"""Tests of leadgen.ops (the ``leadgen k8s`` commands) against a stand-in kubectl."""
