"""``pilothouse models``: the configured model table."""

from __future__ import annotations

from rich.table import Table

from pilothouse.cli.common import ConfigOption, console, resolve_config


def models(config: ConfigOption = None) -> None:
    """List public model names with their provider, upstream model, prices and context window."""
    cfg = resolve_config(config)
    table = Table("model", "kind", "provider", "upstream", "$ / M in", "$ / M out", "context")
    for m in cfg.models:
        table.add_row(
            m.name,
            m.kind,
            f"{m.provider} ({cfg.providers[m.provider].type})",
            m.upstream,
            str(m.input_price),
            str(m.output_price),
            str(m.context_window),
        )
    console.print(table)
