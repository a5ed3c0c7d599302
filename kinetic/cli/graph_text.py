"""A graph of jobs as layered text: each job in the layer after its deepest dependency,
with its status, reason and what it waits for; a batch is one node with its items' counts.
Pure: nodes and edges in, lines out.

Used by `kinetic workflow status` and `kinetic jobs tree`; their ``-o json`` prints the
same nodes and edges as they are.
"""

from __future__ import annotations

from typing import Any

from kinetic.cli.app import format_seconds

MARKS = {"SUCCEEDED": "✔", "FAILED": "✘", "CANCELLED": "⊘", "RUNNING": "▶", "PENDING": "…",
         "NOT_FOUND": "?"}  # fmt: skip


def layers(names: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """``names`` grouped by depth (0: waits for nothing), each group in the given order."""
    parents: dict[str, list[str]] = {n: [] for n in names}
    for src, dst in edges:
        if dst in parents and src in parents:
            parents[dst].append(src)
    depth: dict[str, int] = {}

    def depth_of(name: str, trail: tuple[str, ...] = ()) -> int:
        if name not in depth:
            ups = [p for p in parents[name] if p not in trail]
            depth[name] = 1 + max((depth_of(p, (*trail, name)) for p in ups), default=-1)
        return depth[name]

    grouped: dict[int, list[str]] = {}
    for name in names:
        grouped.setdefault(depth_of(name), []).append(name)
    return [grouped[d] for d in sorted(grouped)]


def render(nodes: list[dict[str, Any]], edges: list[tuple[str, str]], key: str = "name",
           focus: str | None = None) -> list[str]:  # fmt: skip
    """One line per node: mark, name, status (reason), duration, id, and what it waits for."""
    by_name = {n[key]: n for n in nodes}
    waits: dict[str, list[str]] = {}
    for src, dst in edges:
        waits.setdefault(dst, []).append(src)
    width = max((len(str(n)) for n in by_name), default=4) + 2
    lines = []
    for depth, group in enumerate(layers(list(by_name), edges), 1):
        lines.append(f"layer {depth}")
        for name in group:
            node = by_name[name]
            status = node.get("status") or "?"
            text = status + (f" ({node['reason']})" if node.get("reason") else "")
            star = "*" if name == focus else " "
            line = f" {star}{MARKS.get(status, ' ')} {name:<{width}}{text:<34}"
            line += f"{format_seconds(node.get('duration')):>7}"
            if node.get("job_id") and node["job_id"] != name:
                line += f"  {node['job_id']}"
            if node.get("kind") == "batch":  # one node for the whole batch: its counts
                line += f"  batch: {node.get('summary') or ''}"
            if waits.get(name):
                line += f"  ← {', '.join(waits[name])}"
            lines.append(line.rstrip())
    return lines
