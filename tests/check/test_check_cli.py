"""``synod check``: output lines, exit codes, HTML pages and one-line errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from synod.check import cli

PREFIX = "INFO  jepsen.util - "
GOOD_LOG = [
    "0 :invoke :write 1",
    "0 :ok :write 1",
    "1 :invoke :read nil",
    "1 :ok :read 1",
]
STALE_READ_LOG = [
    "0 :invoke :write 1",
    "0 :ok :write 1",
    "0 :invoke :write 2",
    "0 :ok :write 2",
    "1 :invoke :read nil",
    "1 :ok :read 1",
    "2 :invoke :cas [2 3]",
    "2 :info :cas :timed-out",
]


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{PREFIX}{line.replace(' ', chr(9))}\n" for line in lines))
    return path


def write_hard_kv(path: Path, appends: int) -> Path:
    """Concurrent appends, then a read no order of them explains: slow to refute."""
    lines = [
        f'{{:process {i}, :type :invoke, :f :append, :key "k", :value "<{i}>"}}'
        for i in range(appends)
    ]
    lines += [
        f'{{:process {i}, :type :ok, :f :append, :key "k", :value "<{i}>"}}' for i in range(appends)
    ]
    lines += [
        '{:process 99, :type :invoke, :f :get, :key "k", :value nil}',
        '{:process 99, :type :ok, :f :get, :key "k", :value "impossible"}',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="synod check")
    cli.configure(parser)
    return cli.run(parser.parse_args([str(arg) for arg in argv]))


def test_a_linearizable_file_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_log(tmp_path / "good.log", GOOD_LOG)
    assert run_cli("--model", "register", path) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: linearizable (")
    assert out.rstrip().endswith(" s)")


def test_a_violation_exits_one_and_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "stale.log", STALE_READ_LOG)
    assert run_cli("--model", "register", path) == 1
    out = capsys.readouterr().out
    assert f"{path}: NOT linearizable (" in out
    assert "longest linearizable prefix" in out
    assert "read() -> 1" in out


def test_each_file_gets_a_line_and_a_violation_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_log(tmp_path / "good.log", GOOD_LOG)
    bad = write_log(tmp_path / "bad.log", STALE_READ_LOG)
    missing = tmp_path / "missing.log"
    assert run_cli("--model", "register", good, bad, missing) == 1
    captured = capsys.readouterr()
    assert f"{good}: linearizable" in captured.out
    assert f"{bad}: NOT linearizable" in captured.out
    assert captured.err == f"{missing}: error: cannot read: No such file or directory\n"


def test_a_missing_file_exits_two_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("--model", "kv", tmp_path / "nope.txt") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("model", "content", "message"),
    [
        ("kv", "this is not EDN\n", "not a kv history: line 1: expected an EDN map"),
        ("register", "hello\nworld\n", "not a register history: no Jepsen etcd log lines found"),
    ],
)
def test_an_unparsable_file_exits_two_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, content: str, message: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    assert run_cli("--model", model, path) == 2
    err = capsys.readouterr().err
    assert err == f"{path}: error: {message}\n"


def test_a_binary_file_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\xff\xfe\x00\x81")
    assert run_cli("--model", "kv", path) == 2
    assert "not a UTF-8 text file" in capsys.readouterr().err


def test_an_exhausted_budget_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_hard_kv(tmp_path / "hard.txt", appends=10)
    assert run_cli("--model", "kv", "--time-budget", "0.05", path) == 2
    assert f"{path}: unknown (time budget exceeded)" in capsys.readouterr().out


def test_html_is_written_with_the_key_operations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "stale.log", STALE_READ_LOG)
    page = tmp_path / "out.html"
    assert run_cli("--model", "register", "--html", page, path) == 1
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "read() -&gt; 1" in html
    assert 'class="stuck"' in html
    assert 'class="linearized open"' in html or 'class="other open"' in html
    assert "cas(2, 3) -&gt; ?" in html
    assert "<script" not in html
    capsys.readouterr()


def test_html_for_several_files_gets_one_page_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_log(tmp_path / "good.log", GOOD_LOG)
    bad = write_log(tmp_path / "bad.log", STALE_READ_LOG)
    page = tmp_path / "out.html"
    assert run_cli("--model", "register", "--html", page, good, bad) == 1
    assert (tmp_path / "out-good.html").is_file()
    assert "read() -&gt; 1" in (tmp_path / "out-bad.html").read_text()
    assert not page.exists()
    capsys.readouterr()


def test_html_names_stay_distinct() -> None:
    names = cli.html_paths(Path("o.html"), [Path("a/x.log"), Path("b/x.log"), Path("y.log")])
    assert names == [Path("o-x.html"), Path("o-x-2.html"), Path("o-y.html")]


def test_an_unwritable_html_target_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "good.log", GOOD_LOG)
    assert run_cli("--model", "register", "--html", tmp_path / "no" / "out.html", path) == 2
    assert "cannot write" in capsys.readouterr().err


def test_jobs_check_files_in_parallel_and_report_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [write_log(tmp_path / f"h{i}.log", GOOD_LOG) for i in range(3)]
    assert run_cli("--model", "register", "--jobs", "2", *files) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(path) for path in files]


@pytest.mark.parametrize("option", [["--time-budget", "0"], ["--jobs", "-1"], ["--model", "x"]])
def test_bad_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    argv = ["--model", "register", *option, str(tmp_path / "f.log")]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*argv)
    assert exit_info.value.code == 2
    capsys.readouterr()


def test_the_synod_entry_point_runs_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = pytest.importorskip("synod.cli.main", reason="the entry point imports every tool")
    path = write_log(tmp_path / "good.log", GOOD_LOG)
    assert entry.main(["check", "--model", "register", str(path)]) == 0
    assert "linearizable" in capsys.readouterr().out
