import sys

from tinyq.cli.root import main

sys.exit(main())
