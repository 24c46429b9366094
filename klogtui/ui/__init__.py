"""The Textual application (the only package that imports textual)."""

__all__: list[str] = []
