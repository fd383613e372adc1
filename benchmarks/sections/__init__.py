"""The benchmark's sections, in the order they run and print.

To add one: write ``sections/<name>.py`` ending in ``SECTION = Section("<name>", run, ...)``
(see harness.Section and benchmarks/README.md), then add it to this list.
"""

from __future__ import annotations

from harness import Section

from sections import cpu, deployment_scale, imports, memory, multiworker, parquet, pii, throughput

SECTIONS: list[Section] = [
    throughput.SECTION,
    memory.SECTION,
    imports.SECTION,
    cpu.SECTION,
    pii.SECTION,
    multiworker.SECTION,
    parquet.SECTION,
    deployment_scale.SECTION,
]
