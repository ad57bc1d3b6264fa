"""``python -m layerlab``: the headless face of the same core the app uses."""

from layerlab.cli import main

raise SystemExit(main())
