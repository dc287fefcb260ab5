"""What users look for at the command line: --version, help on every option, the model cache, timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from producer.cli import main
from tests.conftest import write_jsonl


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_version_prints_the_installed_version() -> None:
    code, stdout, _ = invoke("--version")
    assert code == 0 and stdout == f"nlpbatch {version('nlpbatch')}\n"


def every_command(
    group: click.Group, ctx: click.Context, path: str = "nlpbatch"
) -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from every_command(command, ctx, f"{path} {name}")


def test_every_option_of_every_command_has_help() -> None:
    ctx = click.Context(main)
    commands = [("nlpbatch", main), *every_command(main, ctx)]
    assert {"nlpbatch models list", "nlpbatch models rm", "nlpbatch worker", "nlpbatch run"} <= dict(
        commands
    ).keys()
    missing = [
        f"{path} {param.opts[0]}"
        for path, command in commands
        for param in command.params
        if isinstance(param, click.Option) and not param.help and param.name not in ("help", "version")
    ]
    assert missing == []


@pytest.fixture
def home_with_exports(tmp_path: Path, tiny_bert: Path, tiny_distilbert: Path) -> Path:
    home = tmp_path / "home"
    for model in (tiny_bert, tiny_distilbert):
        assert invoke("--home", str(home), "models", "export", str(model), "-t", "sentiment")[0] == 0
    return home


def test_models_list_shows_each_cached_export_with_its_task_precision_size_and_folder(
    home_with_exports: Path, tiny_bert: Path, tiny_distilbert: Path
) -> None:
    code, stdout, _ = invoke("--home", str(home_with_exports), "models", "list")
    assert code == 0
    header, *rows = stdout.splitlines()
    assert header.split() == ["MODEL", "TASK", "PRECISION", "SIZE", "FOLDER"]
    assert [r.split()[0] for r in rows] == sorted([str(tiny_bert), str(tiny_distilbert)])
    for row in rows:
        model, task, precision, size, unit, folder = row.split()
        assert model in (str(tiny_bert), str(tiny_distilbert)) and (task, precision) == (
            "text-classification",
            "fp32",
        )
        assert float(size) > 0 and unit in ("KB", "MB")
        assert (Path(folder) / "model.onnx").is_file() and Path(folder).parent == home_with_exports / "onnx"


def test_models_rm_removes_one_model_s_exports_and_all_removes_the_rest(
    home_with_exports: Path, tiny_bert: Path, tiny_distilbert: Path
) -> None:
    code, stdout, _ = invoke("--home", str(home_with_exports), "models", "rm", str(tiny_bert))
    assert code == 0 and stdout.startswith(f"removed {tiny_bert} text-classification fp32 (")
    listed = invoke("--home", str(home_with_exports), "models", "list")[1]
    assert str(tiny_bert) + " " not in listed and str(tiny_distilbert) in listed
    code, _, stderr = invoke("--home", str(home_with_exports), "models", "rm", str(tiny_bert))
    assert code == 2 and f"no cached export of '{tiny_bert}'; cached: {tiny_distilbert}" in stderr
    assert invoke("--home", str(home_with_exports), "models", "rm", "--all")[0] == 0
    assert invoke("--home", str(home_with_exports), "models", "list")[1].startswith("no exports in ")
    assert [p for p in (home_with_exports / "onnx").iterdir() if p.is_dir()] == []
    assert invoke("--home", str(home_with_exports), "models", "rm")[0] == 2  # neither MODEL nor --all


def test_wait_with_a_timeout_says_it_timed_out_and_exits_1(
    broker_url: str, session_home: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": 1, "text": "good"}])
    env = {"NLPBATCH_BROKER_URL": broker_url, "NLPBATCH_QUEUE": "nobody-listens-here"}
    code, stdout, _ = invoke(
        "submit",
        str(corpus),
        "-t",
        "sentiment",
        "-m",
        str(tiny_bert),
        "-o",
        str(tmp_path / "o.jsonl"),
        env=env,
    )
    assert code == 0
    job_id = stdout.splitlines()[0]
    code, stdout, stderr = invoke("wait", job_id, "--timeout", "0.5", env=env)
    assert code == 1
    assert "timed out after 0.5 s; the job is still running" in stderr
    assert f"job {job_id}: running" in stdout


def test_the_readme_table_lists_every_nlpbatch_variable_the_settings_read() -> None:
    import re

    root = Path(__file__).resolve().parent.parent
    # The settings, and the precision verdicts' two switches (read where the gate runs).
    source = (root / "nlpbatch" / "settings.py").read_text() + (root / "worker" / "tuning.py").read_text()
    read = set(re.findall(r'"NLPBATCH_([A-Z_]+)"', source)) | set(re.findall(r'read\("([A-Z_]+)"', source))
    assert {"POOL", "THREADS", "HOME", "BROKER_URL"} <= read
    table = {m for m in re.findall(r"^\| `NLPBATCH_([A-Z_]+)` \|", (root / "README.md").read_text(), re.M)}
    assert table == read
