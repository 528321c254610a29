"""The command line: ``orchestrator run | retry | status | history | serve | schema | schedule | hooks | models |
promote | rollback | prepare | retrain | predict | demo`` (also ``python -m orchestrator``, and the seed's ``python orchestrator/orchestrator.py``).

It reads the settings, hands them to :mod:`orchestrator.wiring` (or to a reference job, whose module it loads only
when that command runs), prints, and exits with the README's codes: 0 done (also: nothing to do), 1 at least one
label failed, 2 configuration, usage or credentials, 3 the database, the Hub or GitHub unreachable, 130
interrupted.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import EXIT_CONFIG, OrchestratorError
from . import core_commands, hosted_commands, job_commands, model_commands
from .common import fail


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
def cli() -> None:
    """Continuous-learning CI/CD: count reviewed misclassifications per label, prepare a new dataset
    when a label has enough, wait for it on the Hub, and retrain exactly the labels whose data changed."""


for command in (core_commands.run, core_commands.retry, core_commands.status, core_commands.history, core_commands.serve,
                core_commands.schema, hosted_commands.schedule, hosted_commands.hooks, model_commands.models,
                model_commands.promote, model_commands.rollback, job_commands.prepare, job_commands.retrain,
                job_commands.predict, job_commands.demo):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: exit codes as documented, and never a raw traceback with a secret."""
    import traceback

    from .. import interrupts, redact

    interrupts.install()  # SIGTERM (a cancelled CI job) unwinds like Ctrl-C: the lease is given back
    try:
        cli.main(args=argv, prog_name="orchestrator", standalone_mode=False)
    except click.ClickException as exc:  # usage errors: exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        interrupts.handling()
        click.echo("interrupted", err=True)
        sys.exit(130)
    except OrchestratorError as exc:  # commands handle their own; this is a last resort
        fail(exc)
    except Exception:  # a bug: say so, without secrets
        click.echo(redact.redact("internal error (a bug: please report it)\n" + traceback.format_exc()), err=True)
        sys.exit(1)
    finally:  # no repeated interrupt outlives the command (it would kill the interpreter as it exits)
        interrupts.handling()


__all__ = ["cli", "main", "EXIT_CONFIG"]
