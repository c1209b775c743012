"""`accel`, the command line of the accelerator's Moodle companion: the console script ``accel = "cli:main"``
and ``python -m cli``. The commands are assembled in sync/commands/."""

from sync.commands import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="accel")  # `python -m cli` (the service's tests) speaks as the installed command
