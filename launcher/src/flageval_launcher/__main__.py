from flageval_launcher.cli import main

raise SystemExit(main())
