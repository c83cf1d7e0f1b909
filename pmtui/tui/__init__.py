"""Everything Textual: the dashboard app, its widgets and styles, the terminal driver, the served
page. Nothing outside this package imports Textual or a widget (import-linter keeps it so)."""
