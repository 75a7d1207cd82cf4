"""The command line refuses bad arguments with argparse's usage error (exit status 2, a message
naming the option), before any work; --version answers."""
from __future__ import annotations

import pytest

import ntkfast
from ntkfast import cli


@pytest.mark.parametrize("argv, option", [
    (["bench", "--repeat", "0"], "--repeat"),
    (["bench", "--repeat", "-1"], "--repeat"),
    (["bench", "--reference-max-n", "0"], "--reference-max-n"),
    (["bench", "--threads", "0"], "--threads"),
    (["bench", "--threads", "99999"], "--threads"),
    (["bench", "--threads", "two"], "--threads"),
    (["bench", "--sizes", "0,10"], "--sizes"),
    (["bench", "--suite", "nope"], "--suite"),
    (["paper", "fig1", "--threads", "5000"], "--threads"),
    (["paper", "fig4"], "figure"),
    (["paper", "fig2", "--out", "/nonexistent/folder/fig.png"], "--out"),
    (["bench", "--json", "/nonexistent/folder/out.json"], "--json"),
])
def test_bad_arguments_are_usage_errors_naming_the_option(argv, option, capsys):
    # --threads 99999 used to pass argparse and fail later with a ValueError traceback; an output
    # file in a missing folder failed only after all the work
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert option in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"ntkfast {ntkfast.__version__}"


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_a_results_file_that_cannot_be_written_is_a_clear_error(capsys):
    # /dev/full passes the up-front check (it is writable) and fails on write: that used to end
    # in an OSError traceback after the whole benchmark had run
    argv = ["bench", "--suite", "kernels", "--sizes", "16", "--depths", "2", "--activations",
            "relu", "--dtypes", "f64", "--repeat", "1", "--no-reference", "--operator-n", "64",
            "--json", "/dev/full"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "could not write the results to /dev/full" in err and "Traceback" not in err
