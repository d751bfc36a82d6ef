"""`python -m privgen ...`: the CLI, so that launchers can start it (`accelerate launch -m privgen ...`)."""

from privgen.cli import main

main()
