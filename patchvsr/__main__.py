from patchvsr.cli import main

raise SystemExit(main())
