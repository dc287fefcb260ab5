"""The README's limit for results kept in Redis: 100,000 documents, counted before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from producer.cli import main

UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.mark.parametrize(("lines", "refused"), [(100_000, False), (100_001, True)])
def test_a_redis_output_takes_100000_documents_and_refuses_one_more(
    tmp_path: Path, tiny_bert: Path, lines: int, refused: bool
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"review {i}\n" for i in range(lines)))
    args = ["submit", str(corpus), "-t", "sentiment", "-m", str(tiny_bert), "--broker", UNREACHABLE]
    result = CliRunner().invoke(main, [*args, "-o", "redis://"], catch_exceptions=False)
    if refused:
        # Refused before Redis is contacted: exit 2, not the unreachable broker's 1.
        assert result.exit_code == 2, result.stderr
        assert "more than 100000 documents" in result.stderr and "write a file" in result.stderr
    else:
        assert result.exit_code == 1 and "cannot reach Redis" in result.stderr, result.stderr
