"""``python -m layerlab``: the headless face of the same core the app uses."""

from layerlab.cli.main import exit_without_teardown, main

code = main()
exit_without_teardown(code)
raise SystemExit(code)
