"""``python -m assistant`` is the ``xunshi`` command."""

from assistant.cli import main

raise SystemExit(main())
