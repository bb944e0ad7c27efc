import pytest
from typer.testing import CliRunner


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def cli(runner):
    """Run the CLI; returns the click Result (stdout in .stdout, stderr in .stderr)."""
    from superpod.faces.cli import app

    def run(*args):
        return runner.invoke(app, [str(a) for a in args])

    return run
