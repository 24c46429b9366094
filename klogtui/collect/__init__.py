"""Log sources: kubelet files, Kubernetes API streams and the demo cluster."""

__all__: list[str] = []
