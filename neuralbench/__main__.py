from neuralbench.cli import main

raise SystemExit(main())
