"""Memory and time of `modelsync export` streamed, against rendering the whole catalog first, over 20,000 models.

Builds the catalog as bench/api_read.py does (bundled catalogs plus a synthetic listing, through the real sync
engine, SQLite), then writes each export format to a sink that only counts characters: once streamed
(services/exports.iter_models into exports.write_*), once from a list of every record read first (what an export
holding the catalog in memory would do). Prints the peak traced memory of each and their ratio, per format.

Usage: .venv/bin/python bench/export_stream.py [--models 20000]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from api_read import build_catalog


class Sink(io.StringIO):
    """Counts what is written and keeps nothing."""

    size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


def measured(write: Callable[[Sink, Iterable[dict[str, Any]]], int], views: Callable[[], Iterable[dict]]) -> tuple:
    """(peak bytes, seconds, characters) of one export."""
    sink = Sink()
    tracemalloc.start()
    start = time.perf_counter()
    write(sink, views())
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, seconds, sink.size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=20000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from modelsync import exports
    from modelsync.db.engine import open_database
    from modelsync.services.exports import iter_models

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        build_catalog(url, args.models)
        engine = open_database(url)
        writers = {
            "json": exports.write_json,
            "csv": exports.write_csv,
            "mongo": exports.write_mongo,
            "litellm": lambda sink, views: exports.write_litellm(sink, views, lambda name: (name, f"{name}/")),
        }
        print(f"{'format':<8} {'streamed MB':>12} {'whole MB':>9} {'ratio':>6} {'streamed s':>11} {'output MB':>10}")
        for name, write in writers.items():
            streamed = measured(write, lambda: iter_models(engine))
            whole = measured(write, lambda: list(iter_models(engine)))
            print(
                f"{name:<8} {streamed[0] / 1e6:>12.1f} {whole[0] / 1e6:>9.1f} {whole[0] / streamed[0]:>6.1f} "
                f"{streamed[1]:>11.2f} {streamed[2] / 1e6:>10.1f}"
            )


if __name__ == "__main__":
    main()
