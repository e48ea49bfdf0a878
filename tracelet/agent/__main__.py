from tracelet.agent.agent import main

raise SystemExit(main())
