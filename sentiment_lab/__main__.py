from sentiment_lab.train import main

raise SystemExit(main())
