"""``python -m flageval_datasets.importers``: see the package docstring."""

from . import main

raise SystemExit(main())
