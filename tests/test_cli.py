import subprocess
import sys

from langrl.cli import COMMANDS, main


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("sft", "sample", "demo"):
        assert name in out


def test_unknown_command_exit_2(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_every_listed_command_module_exists():
    import importlib.util

    missing = [name for name, (mod, _) in COMMANDS.items() if importlib.util.find_spec(mod) is None]
    assert missing == []


def test_command_help_runs_in_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "langrl.cli", "sft", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--max-steps" in out.stdout and "--learning-rate" in out.stdout
