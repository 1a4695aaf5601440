import sys

from tfcompare.cli import main

sys.exit(main())
