"""Operating the platform on Kubernetes: ``leadgen k8s deploy|rollback|scale|debug|health-check``.

Layout:
- ``contract``: the names the manifests, the image and these commands agree on;
- ``rules/``: pure functions that turn rendered manifests and kubectl's JSON into decisions;
- ``kubectl``: the only module that runs a process;
- ``deploy``, ``rollback``, ``scale``, ``debug``, ``healthcheck``: one command each, calling
  kubectl and the rules in order;
- ``output``: what a person sees (Rich); ``cli``: the Typer app mounted as ``leadgen k8s``.
"""
