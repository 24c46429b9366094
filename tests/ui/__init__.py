"""UI tests: widgets, screens and the whole app driven by Textual's Pilot (`app.run_test()`),
and the SVG snapshots in snapshots/. Run: `python -m pytest tests/ui`."""
