from tracelet.cli.main import main

raise SystemExit(main())
