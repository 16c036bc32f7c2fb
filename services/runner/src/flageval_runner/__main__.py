from flageval_runner.harness import main

raise SystemExit(main())
